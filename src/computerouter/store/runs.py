"""Run rows: which runs are in flight on which session (the reaper must not suspend those)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from computerouter.domain.session import RunRecord, RunState
from computerouter.errors import Conflict
from computerouter.store.engine import read_connection
from computerouter.store.errors import translate_store_errors
from computerouter.store.schema import run_permits, runs, sessions

__all__ = ["RunStore", "insert_run", "to_run"]


def to_run(row: RowMapping) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        session_id=row["session_id"],
        user_id=row["user_id"],
        sandbox_id=row["sandbox_id"],
        agent_id=row["agent_id"],
        state=row["state"],
        owner=row["owner"],
        started_at=row["started_at"],
        heartbeat_at=row["heartbeat_at"],
        ended_at=row["ended_at"],
    )


def insert_run(conn: Connection, run: RunRecord) -> None:
    """The row of a run beginning, in the caller's transaction; :class:`Conflict` if that
    ``run_id`` has begun before."""
    try:
        conn.execute(
            runs.insert().values(
                run_id=run.run_id,
                session_id=run.session_id,
                user_id=run.user_id,
                sandbox_id=run.sandbox_id,
                agent_id=run.agent_id,
                state=RunState.RUNNING,
                owner=run.owner,
                started_at=run.started_at,
                heartbeat_at=run.heartbeat_at,
            )
        )
    except IntegrityError as exc:  # the caller's transaction is rolled back with it
        raise Conflict(f"run {run.run_id} has already begun") from exc


def _end(conn: Connection, run_id: str, *, state: str, now: float) -> bool:
    assert state in RunState.ENDED
    result = conn.execute(
        runs.update()
        .where(runs.c.run_id == run_id, runs.c.state == RunState.RUNNING)
        .values(state=state, ended_at=now, heartbeat_at=now)
    )
    return result.rowcount == 1


class RunStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def begin(self, run: RunRecord) -> None:
        """Record a run as in flight; a ``run_id`` can begin once."""
        with translate_store_errors(), self._engine.begin() as conn:
            insert_run(conn, run)

    def heartbeat(self, run_id: str, *, now: float) -> None:
        with translate_store_errors(), self._engine.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.run_id == run_id, runs.c.state == RunState.RUNNING)
                .values(heartbeat_at=now)
            )

    def heartbeat_many(self, run_ids: Sequence[str], *, now: float) -> None:
        """Mark several runs in flight alive in one statement (the keepalive's beat)."""
        with translate_store_errors(), self._engine.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.run_id.in_(list(run_ids)), runs.c.state == RunState.RUNNING)
                .values(heartbeat_at=now)
            )

    def end(self, run_id: str, *, state: str, now: float) -> bool:
        """Mark a run ended; ``False`` if it had already ended (ending twice is harmless)."""
        with translate_store_errors(), self._engine.begin() as conn:
            return _end(conn, run_id, state=state, now=now)

    def finish(self, run_id: str, *, state: str, now: float, session_id: str) -> bool:
        """:meth:`end`, the run's permit given back and its session's idle clock restarted,
        in one transaction (what every run does as it ends); ``False`` if it had ended."""
        with translate_store_errors(), self._engine.begin() as conn:
            ended = _end(conn, run_id, state=state, now=now)
            conn.execute(run_permits.delete().where(run_permits.c.run_id == run_id))
            conn.execute(
                sessions.update()
                .where(sessions.c.id == session_id)
                .values(last_active_at=now, updated_at=now)
            )
            return ended

    def request_cancel(self, run_id: str, *, reason: str, at: float) -> bool:
        """Ask the run's control plane, on whichever replica, to cancel it (its keepalive
        sees this within a second); ``False`` if it has ended or was asked already."""
        with translate_store_errors(), self._engine.begin() as conn:
            result = conn.execute(
                runs.update()
                .where(
                    runs.c.run_id == run_id,
                    runs.c.state == RunState.RUNNING,
                    runs.c.cancel_reason.is_(None),
                )
                .values(cancel_reason=reason, cancel_requested_at=at)
            )
            return result.rowcount == 1

    def release(self, run_id: str) -> None:
        """Forget a run that began on a session it could not use (it will begin again)."""
        with translate_store_errors(), self._engine.begin() as conn:
            conn.execute(
                runs.delete().where(runs.c.run_id == run_id, runs.c.state == RunState.RUNNING)
            )

    def get(self, run_id: str) -> RunRecord | None:
        with translate_store_errors(), read_connection(self._engine) as conn:
            row = conn.execute(runs.select().where(runs.c.run_id == run_id)).mappings().first()
        return None if row is None else to_run(row)

    def in_flight(self, session_id: str) -> list[RunRecord]:
        query = runs.select().where(
            runs.c.session_id == session_id, runs.c.state == RunState.RUNNING
        )
        with translate_store_errors(), read_connection(self._engine) as conn:
            return [to_run(row) for row in conn.execute(query).mappings()]

    def all_in_flight(self) -> list[RunRecord]:
        """Every run in flight, on any session (one query for a whole reaper pass)."""
        query = runs.select().where(runs.c.state == RunState.RUNNING)
        with translate_store_errors(), read_connection(self._engine) as conn:
            return [to_run(row) for row in conn.execute(query).mappings()]

    def abandon_stale(self, *, heartbeat_before: float, now: float) -> list[str]:
        """Runs whose owner stopped heartbeating are ended as ``abandoned``."""
        with translate_store_errors(), self._engine.begin() as conn:
            stale = [
                row[0]
                for row in conn.execute(
                    sa.select(runs.c.run_id).where(
                        runs.c.state == RunState.RUNNING, runs.c.heartbeat_at < heartbeat_before
                    )
                )
            ]
            if stale:
                conn.execute(
                    runs.update()
                    .where(runs.c.run_id.in_(stale), runs.c.state == RunState.RUNNING)
                    .values(state=RunState.ABANDONED, ended_at=now)
                )
            return stale
