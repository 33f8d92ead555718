"""Per-sandbox lifecycle settings (idle suspend and archive windows, runtime ceilings)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from computerouter.domain.session import SandboxSettings
from computerouter.domain.values import SessionKey
from computerouter.store.engine import read_connection
from computerouter.store.errors import translate_store_errors
from computerouter.store.schema import sandbox_settings

__all__ = ["SandboxStore"]


class SandboxStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, key: SessionKey) -> SandboxSettings:
        query = sandbox_settings.select().where(
            sandbox_settings.c.user_id == key.user_id,
            sandbox_settings.c.sandbox_id == key.sandbox_id,
        )
        with translate_store_errors(), read_connection(self._engine) as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return SandboxSettings(user_id=key.user_id, sandbox_id=key.sandbox_id)
        return SandboxSettings(
            user_id=key.user_id,
            sandbox_id=key.sandbox_id,
            idle_suspend_s=row["idle_suspend_s"],
            archive_after_s=row["archive_after_s"],
            max_run_s=row["max_run_s"],
            max_uptime_s=row["max_uptime_s"],
        )

    def all(self) -> dict[tuple[str, str], SandboxSettings]:
        with translate_store_errors(), read_connection(self._engine) as conn:
            rows = conn.execute(sandbox_settings.select()).mappings().all()
        return {
            (r["user_id"], r["sandbox_id"]): SandboxSettings(
                user_id=r["user_id"],
                sandbox_id=r["sandbox_id"],
                idle_suspend_s=r["idle_suspend_s"],
                archive_after_s=r["archive_after_s"],
                max_run_s=r["max_run_s"],
                max_uptime_s=r["max_uptime_s"],
            )
            for r in rows
        }

    def put(self, settings: SandboxSettings) -> None:
        key = {"user_id": settings.user_id, "sandbox_id": settings.sandbox_id}
        values = {
            "idle_suspend_s": settings.idle_suspend_s,
            "archive_after_s": settings.archive_after_s,
            "max_run_s": settings.max_run_s,
            "max_uptime_s": settings.max_uptime_s,
        }
        with translate_store_errors(), self._engine.begin() as conn:
            updated = conn.execute(
                sa.update(sandbox_settings)
                .where(
                    sandbox_settings.c.user_id == settings.user_id,
                    sandbox_settings.c.sandbox_id == settings.sandbox_id,
                )
                .values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(sa.insert(sandbox_settings).values(**key, **values))
