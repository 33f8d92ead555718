"""Secret rows: sealed values only (see :mod:`computerouter.secrets.vault`); no plaintext and
no key-encryption key ever reaches the database.

A re-wrap during KEK rotation is a compare-and-set on the row's current wrapped data key, so a
secret set or deleted meanwhile is left as it is, and a rotation that stops half-way leaves
every row either as it was or fully moved.
"""

from __future__ import annotations

import builtins

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from computerouter.domain.secrets import SealedSecret, SecretRecord
from computerouter.store.errors import translate_store_errors
from computerouter.store.schema import metadata

__all__ = ["SecretStore", "secrets"]

secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("owner", sa.String(140), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("kek_id", sa.String(64), nullable=False, index=True),
    sa.Column("wrapped_dek", sa.LargeBinary, nullable=False),
    sa.Column("nonce", sa.LargeBinary, nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("rotated_at", sa.Float),
)


def _to_record(row: RowMapping) -> SecretRecord:
    return SecretRecord(
        owner=row["owner"],
        name=row["name"],
        sealed=SealedSecret(
            kek_id=row["kek_id"],
            wrapped_dek=bytes(row["wrapped_dek"]),
            nonce=bytes(row["nonce"]),
            ciphertext=bytes(row["ciphertext"]),
        ),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        rotated_at=row["rotated_at"],
    )


def _key(owner: str, name: str) -> sa.ColumnElement[bool]:
    return sa.and_(secrets.c.owner == owner, secrets.c.name == name)


class SecretStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def put(self, owner: str, name: str, sealed: SealedSecret, *, now: float) -> SecretRecord:
        """Insert or replace a secret (a replaced one keeps its ``created_at``)."""
        values = {
            "kek_id": sealed.kek_id,
            "wrapped_dek": sealed.wrapped_dek,
            "nonce": sealed.nonce,
            "ciphertext": sealed.ciphertext,
            "updated_at": now,
            "rotated_at": None,
        }
        with translate_store_errors(), self._engine.begin() as conn:
            changed = conn.execute(secrets.update().where(_key(owner, name)).values(**values))
            if changed.rowcount == 0:
                conn.execute(
                    secrets.insert().values(owner=owner, name=name, created_at=now, **values)
                )
            row = conn.execute(secrets.select().where(_key(owner, name))).mappings().one()
        return _to_record(row)

    def get(self, owner: str, name: str) -> SecretRecord | None:
        with translate_store_errors(), self._engine.connect() as conn:
            row = conn.execute(secrets.select().where(_key(owner, name))).mappings().first()
        return None if row is None else _to_record(row)

    def list(self, *, owner: str | None = None) -> builtins.list[SecretRecord]:
        query = secrets.select().order_by(secrets.c.owner, secrets.c.name)
        if owner is not None:
            query = query.where(secrets.c.owner == owner)
        with translate_store_errors(), self._engine.connect() as conn:
            return [_to_record(r) for r in conn.execute(query).mappings()]

    def kek_ids(self) -> dict[str, int]:
        """How many secrets each KEK id wraps."""
        query = sa.select(secrets.c.kek_id, sa.func.count()).group_by(secrets.c.kek_id)
        with translate_store_errors(), self._engine.connect() as conn:
            return {str(kek_id): int(count) for kek_id, count in conn.execute(query)}

    def delete(self, owner: str, name: str) -> bool:
        with translate_store_errors(), self._engine.begin() as conn:
            return conn.execute(secrets.delete().where(_key(owner, name))).rowcount > 0

    def rewrap(self, record: SecretRecord, *, kek_id: str, wrapped_dek: bytes, now: float) -> bool:
        """Swap the row's wrapped data key if it is still ``record``'s; False if the row was
        changed or deleted meanwhile."""
        with translate_store_errors(), self._engine.begin() as conn:
            changed = conn.execute(
                secrets.update()
                .where(
                    _key(record.owner, record.name),
                    secrets.c.kek_id == record.sealed.kek_id,
                    secrets.c.wrapped_dek == record.sealed.wrapped_dek,
                )
                .values(kek_id=kek_id, wrapped_dek=wrapped_dek, rotated_at=now)
            )
        return changed.rowcount > 0
