"""Wiring: a ComputeRouter over the configured store, providers and runtimes."""

from __future__ import annotations

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.providers.registry import build_providers
from computerouter.runtimes.registry import build_runtimes
from computerouter.store import open_store

__all__ = ["open_router"]


def open_router(settings: Settings) -> ComputeRouter:
    store = open_store(settings.effective_database_url)
    return ComputeRouter(
        store=store,
        providers=build_providers(settings),
        runtimes=build_runtimes(settings),
        settings=settings,
    )
