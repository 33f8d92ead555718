"""The keyring and vault a control plane's settings describe."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from computerouter.config import Settings
from computerouter.secrets.keyring import LocalKeyring
from computerouter.secrets.vault import SecretVault
from computerouter.store.secrets import SecretStore

__all__ = ["keyring_for", "vault_for"]


def keyring_for(settings: Settings) -> LocalKeyring:
    return LocalKeyring.load(value=settings.secrets_kek, key_file=settings.secrets_kek_path)


def vault_for(settings: Settings, engine: Engine) -> SecretVault:
    return SecretVault(SecretStore(engine), keyring_for(settings))
