"""One record per provider: everything the rest of the router needs to know about it.

A provider is one package plus one line in :data:`BUILTIN` (or one :func:`register` call, as a
test or a plug-in does). Its ``registration`` module exposes ``REGISTRATION`` (and imports
nothing heavy: the vendor SDK is imported by ``build``), a :class:`ProviderRegistration`
naming the provider, its settings model, how to build it, what ``doctor`` shows for it, its
default list price and its capabilities. Nothing outside that package names the provider.

Settings models are frozen dataclasses whose fields all have defaults; they are read from the
``[providers.NAME]`` table of ``config.toml`` and from ``COMPUTEROUTER_NAME_FIELD`` variables
(see :mod:`computerouter.providers.settings`). A field may name vendor variables to fall back
on (``field(metadata={"env": ("DAYTONA_API_KEY",)})``) and be marked secret
(``metadata={"secret": True}``) so it is never shown.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from computerouter.config import Settings
from computerouter.errors import InputError
from computerouter.providers.base import Capabilities, Provider

__all__ = [
    "BUILTIN",
    "DoctorRow",
    "ListPrice",
    "ProviderRegistration",
    "register",
    "registered",
    "registration",
    "unregister",
]

BUILTIN: tuple[str, ...] = (
    "computerouter.providers.local.registration",
    "computerouter.providers.daytona.registration",
    "computerouter.providers.fly_sprites.registration",
)
"""Registration modules of the providers this build ships; each exposes ``REGISTRATION``."""

_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True, kw_only=True, slots=True)
class DoctorRow:
    check: str
    status: str
    """``ok``, ``warn``, ``missing`` (stops sessions or a feature) or ``error``."""
    detail: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ListPrice:
    """The default list price, in micro-credits (operators override it in ``prices.toml``)."""

    cpu_hour: int
    memory_gib_hour: int
    shape_hour: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderRegistration:
    name: str
    summary: str
    """One line for ``compute providers``."""
    settings_model: type[Any]
    """A frozen dataclass, every field with a default."""
    build: Callable[[Settings, Any], Provider]
    """The provider, from the router's settings and this provider's own settings."""
    configured: Callable[[Any], str]
    """``""`` when the provider can be used as configured; else one line saying what to set."""
    capabilities: Capabilities
    list_price: ListPrice
    doctor: Callable[[Settings, Any], Iterable[DoctorRow]] | None = None
    """Rows for ``computerouter doctor``; ``None``: one row from ``configured``."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"provider name {self.name!r} must match {_NAME.pattern}")


_lock = threading.Lock()
_records: dict[str, ProviderRegistration] = {}
_loaded = threading.Event()


def _load_builtin() -> None:
    if _loaded.is_set():
        return
    with _lock:
        if _loaded.is_set():
            return
        for module in BUILTIN:
            record = importlib.import_module(module).REGISTRATION
            _records.setdefault(record.name, record)
        _loaded.set()


def register(record: ProviderRegistration) -> ProviderRegistration:
    """Add a provider; a second record under a taken name is refused."""
    _load_builtin()
    with _lock:
        if record.name in _records and _records[record.name] is not record:
            raise ValueError(f"a provider named {record.name!r} is already registered")
        _records[record.name] = record
    return record


def unregister(name: str) -> None:
    """Remove a provider registered by :func:`register` (tests)."""
    _load_builtin()
    with _lock:
        _records.pop(name, None)


def registered() -> tuple[ProviderRegistration, ...]:
    """Every provider this process knows, in registration order."""
    _load_builtin()
    with _lock:
        return tuple(_records.values())


def registration(name: str) -> ProviderRegistration:
    """The record of ``name``, or one line naming the providers there are."""
    _load_builtin()
    with _lock:
        record = _records.get(name)
        names = ", ".join(_records)
    if record is None:
        raise InputError(f"unknown compute provider {name!r} (known: {names})")
    return record
