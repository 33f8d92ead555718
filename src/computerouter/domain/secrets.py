"""Secrets at rest as values: who owns a secret, its name, and its sealed form.

A secret belongs to the operator or to one user. Its owner is spelled ``operator`` or
``user:<user id>`` so no user id can collide with the operator. The sealed form is what the
store keeps: the data key wrapped by a key-encryption key (named by ``kek_id``), and the value
encrypted under that data key. Nothing here is secret on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from computerouter.domain.ids import is_valid_key_part
from computerouter.errors import InputError

__all__ = [
    "OPERATOR",
    "SECRET_VALUE_MAX_BYTES",
    "SealedSecret",
    "SecretRecord",
    "SecretValue",
    "check_secret_name",
    "owner_for",
]

OPERATOR = "operator"
"""The owner of the operator's own secrets (model keys, provider credentials)."""

SECRET_VALUE_MAX_BYTES = 64 * 1024
"""A secret is a key or a token, not a file: anything longer is refused."""


def owner_for(user_id: str | None) -> str:
    """The owner of a user's secrets (``user:<id>``), or the operator's when ``user_id`` is
    ``None``."""
    if user_id is None:
        return OPERATOR
    if not is_valid_key_part(user_id):
        raise InputError(
            f"user id {user_id!r} is not valid: use 1-128 of letters, digits, '.', '_', '-'"
        )
    return f"user:{user_id}"


def check_secret_name(name: str) -> str:
    if not is_valid_key_part(name):
        raise InputError(
            f"secret name {name!r} is not valid: use 1-128 of letters, digits, '.', '_', '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True, slots=True)
class SecretValue:
    """A plaintext secret. Its ``repr`` and ``str`` never show it; call :meth:`reveal` at the
    one place the value is used (a request header, a provider client)."""

    _value: str

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretValue(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True, kw_only=True, slots=True)
class SealedSecret:
    """A value encrypted under a fresh data key, and that data key wrapped by a KEK."""

    kek_id: str
    wrapped_dek: bytes
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class SecretRecord:
    """One stored secret; ``rotated_at`` is when its data key was last re-wrapped."""

    owner: str
    name: str
    sealed: SealedSecret
    created_at: float
    updated_at: float
    rotated_at: float | None = None

    @property
    def kek_id(self) -> str:
        return self.sealed.kek_id
