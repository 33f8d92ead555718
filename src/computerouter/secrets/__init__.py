"""Secrets: the router's own key, keys derived from it per session and per purpose, and the
operator's and users' secrets at rest under envelope encryption."""

from computerouter.secrets.keyring import KeyProvider, LocalKeyring
from computerouter.secrets.keys import RouterSecret
from computerouter.secrets.vault import RotationReport, SecretVault

__all__ = ["KeyProvider", "LocalKeyring", "RotationReport", "RouterSecret", "SecretVault"]
