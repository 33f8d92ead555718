"""Gate rows: pauses with their audit trail, run permits for per-user caps, cancel requests.

Caps are enforced atomically across replicas: a permit (or a new session) is counted and
written in one transaction that first serialises on the user (``BEGIN IMMEDIATE`` already
serialises writers on SQLite; PostgreSQL takes a transaction-scoped advisory lock on the user),
so N concurrent callers on any number of replicas can never exceed the cap between them.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from computerouter.domain.gates import Pause, PauseMode, PauseScope, ScopeKind
from computerouter.domain.session import RunState
from computerouter.errors import CapReached
from computerouter.store.engine import read_connection
from computerouter.store.errors import translate_store_errors
from computerouter.store.schema import pause_events, pauses, run_permits, runs, sessions

__all__ = ["GateStore", "PauseEvent", "lock_user"]


@dataclass(frozen=True, kw_only=True, slots=True)
class PauseEvent:
    scope: PauseScope
    action: str
    """``pause`` or ``unpause``."""
    mode: PauseMode | None
    reason: str
    actor: str
    at: float


def lock_user(conn: Connection, user_id: str) -> None:
    """Serialise this transaction with every other one that counts ``user_id``'s usage."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:u))"), {"u": user_id})


class GateStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- pauses -------------------------------------------------------------------------------

    def pause(self, pause: Pause) -> None:
        """Set (or replace) the pause of ``pause.scope``, and audit it."""
        values = {
            "mode": pause.mode.value,
            "reason": pause.reason,
            "actor": pause.actor,
            "at": pause.at,
        }
        with translate_store_errors(), self._engine.begin() as conn:
            updated = conn.execute(
                pauses.update().where(pauses.c.scope == pause.scope.key).values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(pauses.insert().values(scope=pause.scope.key, **values))
            conn.execute(
                pause_events.insert().values(scope=pause.scope.key, action="pause", **values)
            )

    def unpause(self, scope: PauseScope, *, reason: str, actor: str, at: float) -> bool:
        """Lift the pause of ``scope``; ``False`` if there was none (nothing is audited)."""
        with translate_store_errors(), self._engine.begin() as conn:
            gone = conn.execute(pauses.delete().where(pauses.c.scope == scope.key))
            if gone.rowcount == 0:
                return False
            conn.execute(
                pause_events.insert().values(
                    scope=scope.key, action="unpause", mode=None, reason=reason, actor=actor, at=at
                )
            )
        return True

    def active(self) -> builtins.list[Pause]:
        with translate_store_errors(), read_connection(self._engine) as conn:
            rows = conn.execute(pauses.select().order_by(pauses.c.at)).mappings().all()
        return [
            Pause(
                scope=PauseScope.parse(row["scope"]),
                mode=PauseMode(row["mode"]),
                reason=row["reason"],
                actor=row["actor"],
                at=row["at"],
            )
            for row in rows
        ]

    def events(self, *, limit: int = 100) -> builtins.list[PauseEvent]:
        query = pause_events.select().order_by(pause_events.c.id.desc()).limit(limit)
        with translate_store_errors(), self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            PauseEvent(
                scope=PauseScope.parse(row["scope"]),
                action=row["action"],
                mode=None if row["mode"] is None else PauseMode(row["mode"]),
                reason=row["reason"],
                actor=row["actor"],
                at=row["at"],
            )
            for row in reversed(rows)
        ]

    # -- cancel requests ---------------------------------------------------------------------

    def request_cancel(self, scope: PauseScope, *, reason: str, at: float) -> builtins.list[str]:
        """Ask the control planes of every run in flight in ``scope`` to cancel it."""
        query = sa.select(runs.c.run_id).where(
            runs.c.state == RunState.RUNNING, runs.c.cancel_reason.is_(None)
        )
        if scope.kind is ScopeKind.USER:
            query = query.where(runs.c.user_id == scope.target)
        elif scope.kind is ScopeKind.PROVIDER:
            query = query.where(
                runs.c.session_id.in_(
                    sa.select(sessions.c.id).where(sessions.c.provider == scope.target)
                )
            )
        with translate_store_errors(), self._engine.begin() as conn:
            ids = [row[0] for row in conn.execute(query)]
            if ids:
                conn.execute(
                    runs.update()
                    .where(runs.c.run_id.in_(ids), runs.c.cancel_reason.is_(None))
                    .values(cancel_reason=reason, cancel_requested_at=at)
                )
        return ids

    def cancel_requests(self, run_ids: Sequence[str]) -> dict[str, tuple[str, float]]:
        """Of ``run_ids``, those asked to cancel: run id -> (reason, when)."""
        query = sa.select(runs.c.run_id, runs.c.cancel_reason, runs.c.cancel_requested_at).where(
            runs.c.run_id.in_(list(run_ids)), runs.c.cancel_reason.is_not(None)
        )
        with translate_store_errors(), read_connection(self._engine) as conn:
            return {row[0]: (row[1], row[2]) for row in conn.execute(query)}

    # -- run permits (per-user cap on runs in flight) -----------------------------------------

    def reserve_permit(
        self, *, run_id: str, user_id: str, owner: str, now: float, cap: int
    ) -> None:
        """Admit one more run in flight for ``user_id``, or raise :class:`CapReached`.
        ``cap`` 0: no cap (the permit is still recorded). Idempotent per run."""
        with translate_store_errors(), self._engine.begin() as conn:
            lock_user(conn, user_id)
            if conn.execute(
                sa.select(run_permits.c.run_id).where(run_permits.c.run_id == run_id)
            ).first():
                return
            if cap:
                held = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(run_permits)
                    .where(run_permits.c.user_id == user_id)
                ).scalar_one()
                if held >= cap:
                    raise CapReached(user_id=user_id, what="runs in flight", cap=cap)
            conn.execute(
                run_permits.insert().values(
                    run_id=run_id, user_id=user_id, owner=owner, created_at=now
                )
            )

    def release_permit(self, run_id: str) -> None:
        with translate_store_errors(), self._engine.begin() as conn:
            conn.execute(run_permits.delete().where(run_permits.c.run_id == run_id))

    def permits(self) -> builtins.list[tuple[str, str, str | None, float]]:
        """Every permit held: (run_id, user_id, owner, created_at)."""
        query = sa.select(
            run_permits.c.run_id,
            run_permits.c.user_id,
            run_permits.c.owner,
            run_permits.c.created_at,
        )
        with translate_store_errors(), read_connection(self._engine) as conn:
            return [(r[0], r[1], r[2], r[3]) for r in conn.execute(query)]

    def ended_permits(self) -> builtins.list[str]:
        """Permits whose run has ended (a control plane died before giving them back)."""
        query = sa.select(run_permits.c.run_id).where(
            run_permits.c.run_id.in_(
                sa.select(runs.c.run_id).where(runs.c.state != RunState.RUNNING)
            )
        )
        with translate_store_errors(), read_connection(self._engine) as conn:
            return [row[0] for row in conn.execute(query)]

    def unstarted_permits(self) -> builtins.list[tuple[str, str | None, float]]:
        """Permits with no run row: (run_id, owner, created_at) — a run still being placed,
        or one whose control plane died before the run began."""
        query = sa.select(run_permits.c.run_id, run_permits.c.owner, run_permits.c.created_at)
        query = query.where(~run_permits.c.run_id.in_(sa.select(runs.c.run_id)))
        with translate_store_errors(), read_connection(self._engine) as conn:
            return [(r[0], r[1], r[2]) for r in conn.execute(query)]
