"""API keys: made here, shown once, stored as a keyed hash, checked in constant time.

A key reads ``cr_<key id>_<secret>``: the id finds the row, the 32-byte random secret is
checked against ``HMAC-SHA256(pepper, secret)``. The secret has 256 bits of entropy, so a fast
keyed hash is enough (a slow password hash protects low-entropy secrets, which these are not);
the pepper (``Settings.api_key_pepper``) keeps a stolen database from being checked offline.
Rotation makes a new key for the same user and revokes the old one.

A verified key is remembered in this process for at most ``cache_ttl_s`` (1 s), keyed by the
keyed hash of the presented key, so a busy client costs no database read per request. Revoking
or rotating a key through this object forgets it at once; a revocation made elsewhere (another
replica, the CLI) is seen here within the TTL. Refusals are never remembered.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable

from computerouter.domain.api_keys import ApiKeyRecord, Principal
from computerouter.domain.ids import is_valid_key_part, new_id
from computerouter.errors import InputError, NotFound, Unauthorized
from computerouter.store.api_keys import ApiKeyStore

__all__ = ["KEY_PREFIX", "ApiKeys"]

KEY_PREFIX = "cr"
MAX_CACHE_TTL_S = 1.0
"""How stale a remembered key may be: a revocation elsewhere takes effect within this."""
_MAX_CACHED = 10_000


class ApiKeys:
    def __init__(
        self,
        store: ApiKeyStore,
        *,
        pepper: str = "",
        cache_ttl_s: float = MAX_CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= cache_ttl_s <= MAX_CACHE_TTL_S:
            raise InputError(f"the API key cache TTL is 0-{MAX_CACHE_TTL_S:g} s, not {cache_ttl_s}")
        self._store = store
        self._pepper = pepper.encode()
        self._ttl_s = cache_ttl_s
        self._clock = clock
        self._verified: dict[str, tuple[float, Principal]] = {}  # hash of key -> (expiry, who)
        self._revocations = 0  # a verification that overlapped a revocation is not kept
        self._guard = threading.Lock()

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

    def cached(self, token: str) -> Principal | None:
        """The principal of a key verified here less than the TTL ago, else ``None`` (then
        :meth:`authenticate` decides). Does no I/O, so an event loop may call it."""
        if self._ttl_s <= 0:
            return None
        digest = self._hash(token)
        with self._guard:
            hit = self._verified.get(digest)
            if hit is None:
                return None
            if hit[0] <= self._clock():
                del self._verified[digest]
                return None
            return hit[1]

    def authenticate(self, token: str) -> Principal:
        """The principal of a presented key; :class:`Unauthorized` for anything else."""
        hit = self.cached(token)
        if hit is not None:
            return hit
        with self._guard:
            revocations = self._revocations
        principal = self._verify(token)
        if self._ttl_s > 0:
            digest = self._hash(token)
            with self._guard:
                if self._revocations != revocations:
                    return principal
                if len(self._verified) >= _MAX_CACHED:
                    self._verified.clear()
                self._verified[digest] = (self._clock() + self._ttl_s, principal)
        return principal

    def _forget(self, key_id: str) -> None:
        with self._guard:
            self._revocations += 1
            for digest in [d for d, (_, p) in self._verified.items() if p.key_id == key_id]:
                del self._verified[digest]

    def _verify(self, token: str) -> Principal:
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
        """Revoke a key; refused at once here, within the cache TTL by other processes."""
        self._forget(key_id)
        try:
            return self._store.revoke(key_id, now=time.time())
        finally:
            self._forget(key_id)  # and any verification that overlapped the write

    def rotate(self, key_id: str) -> tuple[ApiKeyRecord, str]:
        """A new key for the same user (same name and admin flag); the old one is revoked."""
        old = self.get(key_id)
        if old.revoked:
            raise InputError(f"API key {key_id} is revoked; create a new one instead")
        made = self.create(old.user_id, name=old.name, admin=old.admin)
        self.revoke(key_id)
        return made
