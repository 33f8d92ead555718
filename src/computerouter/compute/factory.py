"""Wiring: a ComputeRouter over the configured store, providers, runtimes and ledger."""

from __future__ import annotations

import time
from dataclasses import replace

from computerouter.compute.owner import current_owner, owner_alive
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.secrets import OPERATOR
from computerouter.errors import ConfigError
from computerouter.ledger import open_ledger
from computerouter.providers.registry import build_providers
from computerouter.runtimes.registry import build_runtimes
from computerouter.secrets.factory import vault_for
from computerouter.store import Store, open_store
from computerouter.store.secrets import SecretStore

__all__ = ["MODEL_API_KEY_SECRET", "open_router", "process_alive"]

MODEL_API_KEY_SECRET = "model_api_key"
"""The operator's secret read as the model endpoint's API key when the setting is empty."""


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
    settings = _with_stored_secrets(settings, store)
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


def _with_stored_secrets(settings: Settings, store: Store) -> Settings:
    """``model_api_key`` from the secret store (``computerouter secrets set model_api_key``)
    when the setting itself is empty; the keyring is read only when that secret exists."""
    if (
        settings.model_api_key
        or SecretStore(store.engine).get(OPERATOR, MODEL_API_KEY_SECRET) is None
    ):
        return settings
    try:
        value = vault_for(settings, store.engine).get(OPERATOR, MODEL_API_KEY_SECRET)
    except BaseException:
        store.close()
        raise
    return replace(settings, model_api_key=value.reveal())


def process_alive(owner: str) -> bool:
    """Whether the process ``owner`` names (``host:pid:start``) still lives, as far as this
    host can tell (an owner on another host counts as alive)."""
    return owner_alive(owner, lease_expires_at=None, now=time.time())
