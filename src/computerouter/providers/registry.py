"""The providers of one router: every registered provider, each built on first use.

Which providers exist is :mod:`.registration`'s business; this module builds them from the
settings and tells which are usable as configured (only those are offered to routing).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from computerouter.config import Settings
from computerouter.errors import ProviderUnavailable
from computerouter.providers.base import Provider
from computerouter.providers.registration import registered, registration
from computerouter.providers.settings import provider_settings

__all__ = ["ProviderRegistry", "build_provider", "build_providers", "not_configured"]


def not_configured(name: str, settings: Settings) -> str:
    """``""`` when ``name`` is usable as configured, else one line saying what to set."""
    record = registration(name)
    return record.configured(provider_settings(record, settings))


def build_provider(name: str, settings: Settings) -> Provider:
    record = registration(name)
    own = provider_settings(record, settings)
    reason = record.configured(own)
    if reason:
        raise ProviderUnavailable(f"not configured: {reason}", provider=name)
    return record.build(settings, own)


class ProviderRegistry(Mapping[str, Provider]):
    """Usable providers by name, each built on first use (a command that only reads the
    store should not pay for probing the machine or opening a vendor client)."""

    def __init__(self, settings: Settings, names: tuple[str, ...] | None = None) -> None:
        self._settings = settings
        self._names = (
            names
            if names is not None
            else tuple(r.name for r in registered() if not not_configured(r.name, settings))
        )
        self._built: dict[str, Provider] = {}

    def __getitem__(self, name: str) -> Provider:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._built:
            self._built[name] = build_provider(name, self._settings)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def build_providers(settings: Settings) -> ProviderRegistry:
    return ProviderRegistry(settings)
