"""API keys: made here, shown once, stored as a keyed hash, checked in constant time.

A key reads ``cr_<key id>_<secret>``: the id finds the row, the 32-byte random secret is
checked against ``HMAC-SHA256(pepper, secret)``. The secret has 256 bits of entropy, so a fast
keyed hash is enough (a slow password hash protects low-entropy secrets, which these are not);
the pepper (``Settings.api_key_pepper``) keeps a stolen database from being checked offline.
Rotation makes a new key for the same user and revokes the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from computerouter.domain.api_keys import ApiKeyRecord, Principal
from computerouter.domain.ids import is_valid_key_part, new_id
from computerouter.errors import InputError, NotFound, Unauthorized
from computerouter.store.api_keys import ApiKeyStore

__all__ = ["KEY_PREFIX", "ApiKeys"]

KEY_PREFIX = "cr"


class ApiKeys:
    def __init__(self, store: ApiKeyStore, *, pepper: str = "") -> None:
        self._store = store
        self._pepper = pepper.encode()

    def _hash(self, secret: str) -> str:
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()

    def create(
        self, user_id: str, *, name: str = "", admin: bool = False
    ) -> tuple[ApiKeyRecord, str]:
        """A new key and its plaintext (shown once; only the hash is kept)."""
        if not is_valid_key_part(user_id):
            raise InputError(
                f"user_id {user_id!r} is not valid: use 1-128 of letters, digits, '.', '_', '-'"
            )
        if len(name) > 100:
            raise InputError("a key name is at most 100 characters")
        key_id = new_id("key")
        secret = secrets.token_urlsafe(32)
        record = ApiKeyRecord(
            id=key_id,
            user_id=user_id,
            name=name,
            admin=admin,
            secret_hash=self._hash(secret),
            created_at=time.time(),
        )
        self._store.insert(record)
        return record, f"{KEY_PREFIX}_{key_id}_{secret}"

    def authenticate(self, token: str) -> Principal:
        """The principal of a presented key; :class:`Unauthorized` for anything else."""
        prefix, _, rest = token.partition("_")
        key_kind, _, rest = rest.partition("_")
        key_body, _, secret = rest.partition("_")
        if prefix != KEY_PREFIX or key_kind != "key" or not key_body or not secret:
            raise Unauthorized("the API key is malformed")
        record = self._store.get(f"key_{key_body}")
        if record is None or not hmac.compare_digest(record.secret_hash, self._hash(secret)):
            raise Unauthorized("the API key is not valid")
        if record.revoked:
            raise Unauthorized("the API key was revoked")
        return Principal(user_id=record.user_id, key_id=record.id, admin=record.admin)

    def list(self, *, user_id: str | None = None) -> list[ApiKeyRecord]:
        return self._store.list(user_id=user_id)

    def get(self, key_id: str) -> ApiKeyRecord:
        record = self._store.get(key_id)
        if record is None:
            raise NotFound(f"no API key with id {key_id!r}")
        return record

    def revoke(self, key_id: str) -> ApiKeyRecord:
        return self._store.revoke(key_id, now=time.time())

    def rotate(self, key_id: str) -> tuple[ApiKeyRecord, str]:
        """A new key for the same user (same name and admin flag); the old one is revoked."""
        old = self.get(key_id)
        if old.revoked:
            raise InputError(f"API key {key_id} is revoked; create a new one instead")
        made = self.create(old.user_id, name=old.name, admin=old.admin)
        self.revoke(key_id)
        return made
