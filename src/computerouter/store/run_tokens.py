"""Run token rows: whom a token acts for, until when, and only a hash of its secret.

Revocation is one UPDATE of every live token of a run, so a cancel takes effect at the next
verification, on every replica.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from computerouter.domain.run_tokens import RunToken
from computerouter.store.engine import read_connection
from computerouter.store.errors import translate_store_errors
from computerouter.store.schema import metadata

__all__ = ["RunTokenStore", "run_tokens"]

run_tokens = sa.Table(
    "run_tokens",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("secret_hash", sa.String(128), nullable=False),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("sandbox_id", sa.String(128), nullable=False),
    sa.Column("agent_id", sa.String(128), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("issued_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
    sa.Column("audience", sa.String(32), nullable=False, server_default="mcp-host"),
    sa.Column("destructive", sa.Boolean, nullable=False, server_default=sa.false()),
)


def _to_token(row: RowMapping) -> RunToken:
    return RunToken(
        id=row["id"],
        secret_hash=row["secret_hash"],
        user_id=row["user_id"],
        sandbox_id=row["sandbox_id"],
        agent_id=row["agent_id"],
        run_id=row["run_id"],
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        audience=row["audience"],
        destructive=bool(row["destructive"]),
    )


class RunTokenStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def issue(self, token: RunToken) -> None:
        with translate_store_errors(), self._engine.begin() as conn:
            conn.execute(
                run_tokens.insert().values(
                    id=token.id,
                    secret_hash=token.secret_hash,
                    user_id=token.user_id,
                    sandbox_id=token.sandbox_id,
                    agent_id=token.agent_id,
                    run_id=token.run_id,
                    issued_at=token.issued_at,
                    expires_at=token.expires_at,
                    revoked_at=token.revoked_at,
                    audience=token.audience,
                    destructive=token.destructive,
                )
            )

    def get(self, token_id: str) -> RunToken | None:
        # On every MCP call: one SELECT, so no write lock (see read_connection).
        with translate_store_errors(), read_connection(self._engine) as conn:
            row = (
                conn.execute(run_tokens.select().where(run_tokens.c.id == token_id))
                .mappings()
                .first()
            )
        return None if row is None else _to_token(row)

    def revoke_run(self, run_id: str, *, now: float) -> int:
        """Revoke every live token of ``run_id`` (revoking twice keeps the first time); how
        many were revoked now."""
        with translate_store_errors(), self._engine.begin() as conn:
            changed = conn.execute(
                run_tokens.update()
                .where(run_tokens.c.run_id == run_id, run_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return int(changed.rowcount)

    def purge(self, *, expired_before: float) -> int:
        """Drop tokens expired before ``expired_before`` (they can never verify again)."""
        with translate_store_errors(), self._engine.begin() as conn:
            gone = conn.execute(run_tokens.delete().where(run_tokens.c.expires_at < expired_before))
        return int(gone.rowcount)
