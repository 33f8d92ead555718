"""Wiring: a ComputeRouter over the configured store, providers, runtimes and ledger."""

from __future__ import annotations

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.errors import ConfigError
from computerouter.ledger import open_ledger
from computerouter.providers.registry import build_providers
from computerouter.runtimes.registry import build_runtimes
from computerouter.store import open_store

__all__ = ["open_router"]


def open_router(settings: Settings) -> ComputeRouter:
    """The router, with the credit ledger as its gate unless ``billing`` is off. The data
    directory is made here on first use; a database URL's own directory is never made."""
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot create the data directory {str(settings.home)!r}: {exc}"
        ) from exc
    store = open_store(settings.effective_database_url)
    return ComputeRouter(
        store=store,
        providers=build_providers(settings),
        runtimes=build_runtimes(settings),
        settings=settings,
        credit_gate=open_ledger(settings, store) if settings.billing else None,
    )
