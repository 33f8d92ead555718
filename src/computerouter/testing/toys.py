"""Toy providers for tests: a registration record backed by :class:`FakeProvider`, registered
for the length of a ``with`` block, so a test can show what a new provider needs (one
registration, nothing else) and give placement several providers, regions and prices."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from computerouter.config import Settings
from computerouter.providers.base import Capabilities
from computerouter.providers.registration import (
    ListPrice,
    ProviderRegistration,
    register,
    unregister,
)
from computerouter.testing.fakes import FakeProvider

__all__ = ["ToySettings", "toy_provider", "toy_providers"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ToySettings:
    token: str = ""
    """Only read when the toy is made to need configuration (``needs_token``)."""


def toy_provider(
    name: str,
    *,
    regions: tuple[str, ...] = (),
    warm_start_ms: float = 0.0,
    cpu_hour: int = 10_000,
    max_sessions: int = 0,
    needs_token: bool = False,
    built: dict[str, FakeProvider] | None = None,
) -> ProviderRegistration:
    """A toy record; ``built`` collects the :class:`FakeProvider` each build makes (by name)."""
    capabilities = Capabilities(
        suspend=True,
        archive=True,
        exec=False,
        regions=regions,
        warm_start_ms=warm_start_ms,
        max_sessions=max_sessions,
    )

    def build(settings: Settings, own: ToySettings) -> FakeProvider:
        provider = FakeProvider(name, capabilities=capabilities)
        if built is not None:
            built[name] = provider
        return provider

    def configured(own: ToySettings) -> str:
        if needs_token and not own.token:
            return f"set COMPUTEROUTER_{name.upper()}_TOKEN"
        return ""

    return ProviderRegistration(
        name=name,
        summary=f"toy provider {name} (in memory)",
        settings_model=ToySettings,
        build=build,
        configured=configured,
        capabilities=capabilities,
        list_price=ListPrice(cpu_hour=cpu_hour, memory_gib_hour=0),
    )


@contextmanager
def toy_providers(*records: ProviderRegistration) -> Iterator[tuple[ProviderRegistration, ...]]:
    for record in records:
        register(record)
    try:
        yield records
    finally:
        for record in records:
            unregister(record.name)
