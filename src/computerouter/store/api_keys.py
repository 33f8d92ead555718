"""API key rows: who a key belongs to, whether it is an admin key, and only a hash of it.

The secret part of a key is never stored; ``secret_hash`` is an HMAC of it (see
:mod:`computerouter.secrets.api_keys`), compared in constant time.
"""

from __future__ import annotations

import builtins

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from computerouter.domain.api_keys import ApiKeyRecord
from computerouter.errors import NotFound
from computerouter.store.engine import read_connection
from computerouter.store.errors import translate_store_errors
from computerouter.store.schema import metadata

__all__ = ["ApiKeyStore", "api_keys"]

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(128), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False, server_default=""),
    sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("secret_hash", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
)


def _to_key(row: RowMapping) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        admin=bool(row["admin"]),
        secret_hash=row["secret_hash"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


class ApiKeyStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def insert(self, key: ApiKeyRecord) -> None:
        with translate_store_errors(), self._engine.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    id=key.id,
                    user_id=key.user_id,
                    name=key.name,
                    admin=key.admin,
                    secret_hash=key.secret_hash,
                    created_at=key.created_at,
                    revoked_at=key.revoked_at,
                )
            )

    def get(self, key_id: str) -> ApiKeyRecord | None:
        # On every request: one SELECT, so no write lock (see read_connection).
        with translate_store_errors(), read_connection(self._engine) as conn:
            row = conn.execute(api_keys.select().where(api_keys.c.id == key_id)).mappings().first()
        return None if row is None else _to_key(row)

    def list(self, *, user_id: str | None = None) -> builtins.list[ApiKeyRecord]:
        query = api_keys.select().order_by(api_keys.c.created_at, api_keys.c.id)
        if user_id is not None:
            query = query.where(api_keys.c.user_id == user_id)
        with translate_store_errors(), self._engine.connect() as conn:
            return [_to_key(r) for r in conn.execute(query).mappings()]

    def revoke(self, key_id: str, *, now: float) -> ApiKeyRecord:
        """Revoke a key (revoking twice keeps the first time). Raises NotFound."""
        with translate_store_errors(), self._engine.begin() as conn:
            conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            row = conn.execute(api_keys.select().where(api_keys.c.id == key_id)).mappings().first()
        if row is None:
            raise NotFound(f"no API key with id {key_id!r}")
        return _to_key(row)
