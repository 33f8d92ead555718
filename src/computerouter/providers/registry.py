"""Which providers exist and how to build them from settings."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from computerouter.config import Settings
from computerouter.errors import InputError
from computerouter.providers.base import Provider

__all__ = ["KNOWN_PROVIDERS", "ProviderRegistry", "build_provider", "build_providers"]

KNOWN_PROVIDERS = ("local",)
"""Providers this build can run sessions on. Others (daytona, fly_sprites) arrive as packages."""


def build_provider(name: str, settings: Settings) -> Provider:
    if name == "local":
        from computerouter.providers.local import LocalProvider

        return LocalProvider(
            root=settings.home / "local",
            uid_base=settings.local_uid_base,
            uid_count=settings.local_uid_count,
            allow_unisolated=settings.local_allow_unisolated,
        )
    raise InputError(f"unknown provider {name!r} (available: {', '.join(KNOWN_PROVIDERS)})")


class ProviderRegistry(Mapping[str, Provider]):
    """Providers by name, each built on first use (a command that only reads the store
    should not pay for probing the machine)."""

    def __init__(self, settings: Settings, names: tuple[str, ...] = KNOWN_PROVIDERS) -> None:
        self._settings = settings
        self._names = names
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
