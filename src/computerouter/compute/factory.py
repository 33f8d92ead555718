"""Wiring: a ComputeRouter over the configured store, providers, runtimes and ledger."""

from __future__ import annotations

import time

from computerouter.compute.owner import current_owner, owner_alive
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.errors import ConfigError
from computerouter.ledger import open_ledger
from computerouter.providers.registry import build_providers
from computerouter.runtimes.registry import build_runtimes
from computerouter.store import open_store

__all__ = ["open_router", "process_alive"]


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
    owner = current_owner()
    return ComputeRouter(
        store=store,
        providers=build_providers(settings),
        runtimes=build_runtimes(settings),
        settings=settings,
        owner=owner,
        credit_gate=(
            open_ledger(settings, store, owner=owner, owner_alive=process_alive)
            if settings.billing
            else None
        ),
    )


def process_alive(owner: str) -> bool:
    """Whether the process ``owner`` names (``host:pid:start``) still lives, as far as this
    host can tell (an owner on another host counts as alive)."""
    return owner_alive(owner, lease_expires_at=None, now=time.time())
