"""API keys as values: who a key acts for, and the principal a request authenticates as."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ApiKeyRecord", "Principal"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiKeyRecord:
    id: str
    user_id: str
    name: str
    admin: bool
    secret_hash: str
    created_at: float
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    """Who a request is: a user, through one key. An admin key may act for any user."""

    user_id: str
    key_id: str
    admin: bool = False
