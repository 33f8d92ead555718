"""Session rows: single-flight inserts, compare-and-set transitions, queries.

Every transition is ``UPDATE sessions SET ... WHERE id = :id AND state = :expected`` plus a row
in ``session_transitions``, in one transaction; losing the race raises
:class:`~computerouter.errors.StaleState` instead of overwriting someone else's change.
"""

from __future__ import annotations

import atexit
import builtins
import json
import threading
import weakref
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from computerouter.domain.session import RunRecord, SessionRecord
from computerouter.domain.states import LIVE_STATES, SessionState, require_transition
from computerouter.domain.values import Endpoint, Resources, SessionKey
from computerouter.errors import (
    CapReached,
    ComputeRouterError,
    Conflict,
    SessionNotFound,
    StaleState,
)
from computerouter.store.engine import read_connection
from computerouter.store.errors import translate_store_errors
from computerouter.store.gates import lock_user
from computerouter.store.runs import insert_run
from computerouter.store.schema import LIVE_PREDICATE, session_transitions, sessions

__all__ = ["ACTIVITY_DEBOUNCE_S", "SessionStore", "Transition", "TransitionRow"]

ACTIVITY_DEBOUNCE_S = 1.0
"""At most one activity write per session per this many seconds (see
:meth:`SessionStore.record_activity`)."""

_UNSET: Any = object()
_WRITTEN_KEPT = 4096

# Built once: the warm path should not pay for building and coercing the same query per call.
# Its predicate is the partial unique index's own, so the index answers it.
_FIND_LIVE = sessions.select().where(
    sessions.c.user_id == sa.bindparam("user_id"),
    sessions.c.sandbox_id == sa.bindparam("sandbox_id"),
    sa.text(LIVE_PREDICATE),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class TransitionRow:
    session_id: str
    from_state: SessionState | None
    to_state: SessionState
    at: float
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Transition:
    """Column changes that travel with a state change (``None`` fields are left alone)."""

    instance_id: str | None = None
    provider: str | None = None
    """A session that moved: the provider (and ``region``) it is on from now on."""
    region: str | None = None
    endpoint: Endpoint | None = None
    clear_endpoint: bool = False
    owner: str | None = None
    lease_expires_at: float | None = None
    release_lease: bool = False
    error: str | None = None
    touch: bool = False
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class _Activity:
    at: float
    agent_id: str
    run_id: str


def _not_before(now: float) -> sa.Case[Any]:
    """``last_active_at`` moved to ``now``, never back."""
    return sa.case((sessions.c.last_active_at < now, now), else_=sessions.c.last_active_at)


def _flush_at_exit(ref: weakref.ref[SessionStore]) -> None:
    store = ref()
    if store is not None:
        with suppress(ComputeRouterError):
            store.flush_activity()


def _to_record(row: RowMapping) -> SessionRecord:
    endpoint = None
    if row["endpoint_kind"] and row["endpoint_address"]:
        headers = json.loads(row["endpoint_headers"] or "[]")
        endpoint = Endpoint(
            kind=row["endpoint_kind"],
            address=row["endpoint_address"],
            headers=tuple((str(k), str(v)) for k, v in headers),
        )
    return SessionRecord(
        id=row["id"],
        user_id=row["user_id"],
        sandbox_id=row["sandbox_id"],
        provider=row["provider"],
        region=row["region"],
        runtime=row["runtime"],
        instance_id=row["instance_id"],
        endpoint=endpoint,
        state=SessionState(row["state"]),
        version=row["version"],
        resources=Resources(cpus=row["cpus"], memory_mb=row["memory_mb"], pids=row["pids"]),
        agent_id=row["agent_id"],
        run_id=row["run_id"],
        owner=row["owner"],
        lease_expires_at=row["lease_expires_at"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        state_changed_at=row["state_changed_at"],
        last_active_at=row["last_active_at"],
    )


class SessionStore:
    def __init__(self, engine: Engine, *, debounce_s: float = ACTIVITY_DEBOUNCE_S) -> None:
        self._engine = engine
        self._debounce_s = debounce_s
        # Debounced activity, per session: what was last written, and what waits to be.
        self._activity_guard = threading.Lock()
        self._written: dict[str, _Activity] = {}
        self._pending: dict[str, _Activity] = {}
        self._flusher: threading.Timer | None = None
        # A process that exits without closing its store still writes what it held back.
        atexit.register(_flush_at_exit, weakref.ref(self))

    # -- writes -------------------------------------------------------------------------------

    def insert_provisioning(
        self, record: SessionRecord, *, reason: str = "ensure", max_live_per_user: int = 0
    ) -> bool:
        """Insert a new session in ``provisioning``; ``False`` if the key already has a live one.

        The partial unique index on live ``(user_id, sandbox_id)`` makes this the single-flight
        point: of N concurrent callers exactly one insert succeeds, in one process or many.
        With ``max_live_per_user``, the user's live sessions are counted in the same
        transaction, serialised on the user, and :class:`CapReached` is raised at the cap.
        """
        assert record.state is SessionState.PROVISIONING
        values = {
            "id": record.id,
            "user_id": record.user_id,
            "sandbox_id": record.sandbox_id,
            "provider": record.provider,
            "region": record.region,
            "runtime": record.runtime,
            "state": record.state.value,
            "version": 1,
            "cpus": record.resources.cpus,
            "memory_mb": record.resources.memory_mb,
            "pids": record.resources.pids,
            "agent_id": record.agent_id,
            "run_id": record.run_id,
            "owner": record.owner,
            "lease_expires_at": record.lease_expires_at,
            "created_at": record.created_at,
            "updated_at": record.created_at,
            "state_changed_at": record.created_at,
            "last_active_at": record.last_active_at,
        }
        with translate_store_errors():
            try:
                with self._engine.begin() as conn:
                    if max_live_per_user:
                        self._check_live_cap(conn, record.user_id, max_live_per_user)
                    conn.execute(sessions.insert().values(**values))
                    self._log(conn, record.id, None, record.state, record.created_at, reason)
            except IntegrityError:
                return False
        return True

    @staticmethod
    def _check_live_cap(conn: Connection, user_id: str, cap: int) -> None:
        lock_user(conn, user_id)
        live = conn.execute(
            sa.select(sa.func.count())
            .select_from(sessions)
            .where(
                sessions.c.user_id == user_id,
                sessions.c.state.in_([s.value for s in LIVE_STATES]),
            )
        ).scalar_one()
        if live >= cap:
            raise CapReached(user_id=user_id, what="live sessions", cap=cap)

    def transition(
        self,
        session_id: str,
        *,
        expected: SessionState,
        target: SessionState,
        now: float,
        changes: Transition = Transition(),
    ) -> SessionRecord:
        """Compare-and-set ``expected -> target``; raise :class:`StaleState` if the row moved."""
        require_transition(expected, target, session_id=session_id)
        values: dict[str, Any] = {
            "state": target.value,
            "version": sessions.c.version + 1,
            "updated_at": now,
            "state_changed_at": now,
        }
        if changes.instance_id is not None:
            values["instance_id"] = changes.instance_id
        if changes.provider is not None:
            values["provider"] = changes.provider
        if changes.region is not None:
            values["region"] = changes.region
        if changes.endpoint is not None:
            values["endpoint_kind"] = changes.endpoint.kind
            values["endpoint_address"] = changes.endpoint.address
            # A remote runtime's way in (a preview token, say) goes with its address.
            values["endpoint_headers"] = (
                json.dumps([list(pair) for pair in changes.endpoint.headers])
                if changes.endpoint.headers
                else None
            )
        elif changes.clear_endpoint:
            values["endpoint_kind"] = None
            values["endpoint_address"] = None
            values["endpoint_headers"] = None
        if changes.owner is not None:
            values["owner"] = changes.owner
            values["lease_expires_at"] = changes.lease_expires_at
        elif changes.release_lease:
            values["owner"] = None
            values["lease_expires_at"] = None
        if changes.error is not None:
            values["error"] = changes.error
        if changes.touch:
            values["last_active_at"] = now
        with translate_store_errors(), self._engine.begin() as conn:
            try:
                result = conn.execute(
                    sessions.update()
                    .where(sessions.c.id == session_id, sessions.c.state == expected.value)
                    .values(**values)
                )
            except IntegrityError:
                # Only a move back into a live state can break the one-live-session-per-key rule.
                raise Conflict(
                    f"session {session_id} cannot become {target.value}: its sandbox already "
                    "has a live session"
                ) from None
            if result.rowcount != 1:
                if self._get(conn, session_id) is None:
                    raise SessionNotFound(session_id)
                raise StaleState(session_id=session_id, expected=expected.value)
            self._log(conn, session_id, expected, target, now, changes.reason)
            row = self._get(conn, session_id)
        assert row is not None
        return row

    def set_runtime(
        self, session_id: str, *, expected: SessionState, runtime: str, now: float
    ) -> SessionRecord:
        """Record the runtime a session starts the next time it starts (an archived session,
        before it is restored): compare-and-set on its state, :class:`StaleState` if it moved."""
        with translate_store_errors(), self._engine.begin() as conn:
            result = conn.execute(
                sessions.update()
                .where(sessions.c.id == session_id, sessions.c.state == expected.value)
                .values(runtime=runtime, version=sessions.c.version + 1, updated_at=now)
            )
            if result.rowcount != 1:
                if self._get(conn, session_id) is None:
                    raise SessionNotFound(session_id)
                raise StaleState(session_id=session_id, expected=expected.value)
            row = self._get(conn, session_id)
        assert row is not None
        return row

    def touch(self, session_id: str, *, now: float, agent_id: str = "", run_id: str = "") -> None:
        """Restart the idle clock (and record the latest agent/run labels)."""
        values: dict[str, Any] = {"last_active_at": now, "updated_at": now}
        if agent_id:
            values["agent_id"] = agent_id
        if run_id:
            values["run_id"] = run_id
        with translate_store_errors(), self._engine.begin() as conn:
            conn.execute(sessions.update().where(sessions.c.id == session_id).values(**values))

    def record_activity(
        self, session_id: str, *, now: float, agent_id: str = "", run_id: str = ""
    ) -> None:
        """:meth:`touch`, debounced: at most one write per session per ``debounce_s``.

        The first activity of a window is written at once; later ones in the window are kept
        here and written when the window closes (a timer), by :meth:`flush_activity` (which the
        lifecycle pass calls before it decides anything), or on :meth:`close`. So a reader in
        this process that flushes first sees every activity, and one in another process sees
        the stored ``last_active_at`` at most ``debounce_s`` behind. New agent or run labels
        are not activity: they are written at once.
        """
        with self._activity_guard:
            last = self._written.get(session_id)
            labels_kept = (
                last is not None and agent_id in ("", last.agent_id) and run_id in ("", last.run_id)
            )
            if last is not None and labels_kept and 0 <= now - last.at < self._debounce_s:
                waiting = self._pending.get(session_id)
                if waiting is None or now > waiting.at:
                    self._pending[session_id] = _Activity(
                        at=now, agent_id=last.agent_id, run_id=last.run_id
                    )
                self._arm_flusher()
                return
            self._pending.pop(session_id, None)
            if len(self._written) > _WRITTEN_KEPT:  # only the open windows matter
                self._written = {
                    k: v for k, v in self._written.items() if now - v.at < self._debounce_s
                }
            self._written[session_id] = _Activity(
                at=now,
                agent_id=agent_id or (last.agent_id if last else ""),
                run_id=run_id or (last.run_id if last else ""),
            )
        self._write_activity(session_id, now=now, agent_id=agent_id, run_id=run_id)

    def begin_run(self, run: RunRecord) -> SessionRecord | None:
        """Record ``run`` in flight on its session, label the session with it and restart its
        idle clock, in one transaction; the session as it is now (``None``: it is gone).
        :class:`~computerouter.errors.Conflict` if the run has begun before.

        The session's row is written before it is read back, so a suspend or archive claiming
        the session at the same moment waits for this to commit (its compare-and-set updates
        the same row) and then sees the run; or it committed first and the state read back
        says so."""
        now = run.started_at
        with translate_store_errors(), self._engine.begin() as conn:
            insert_run(conn, run)
            conn.execute(
                sessions.update()
                .where(sessions.c.id == run.session_id)
                .values(
                    agent_id=run.agent_id or sessions.c.agent_id,
                    run_id=run.run_id,
                    last_active_at=_not_before(now),
                    updated_at=now,
                )
            )
            record = self._get(conn, run.session_id)
        if record is not None:
            with self._activity_guard:
                waiting = self._pending.get(run.session_id)
                if waiting is not None and waiting.at <= now:
                    del self._pending[run.session_id]  # written by this, or later
                self._written[run.session_id] = _Activity(
                    at=now, agent_id=record.agent_id, run_id=run.run_id
                )
        return record

    def flush_activity(self) -> int:
        """Write every activity still held back by :meth:`record_activity`; how many."""
        with self._activity_guard:
            due, self._pending = self._pending, {}
            if self._flusher is not None:
                self._flusher.cancel()
                self._flusher = None
        for session_id, activity in due.items():
            self._write_activity(session_id, now=activity.at)
        return len(due)

    def close(self) -> None:
        """Write what activity is held back; no timer is left running."""
        self.flush_activity()

    def _arm_flusher(self) -> None:
        if self._flusher is None:
            self._flusher = threading.Timer(self._debounce_s, self._flush_from_timer)
            self._flusher.daemon = True
            self._flusher.start()

    def _flush_from_timer(self) -> None:
        with self._activity_guard:
            self._flusher = None
        # A store closed meanwhile is not an error here; its close() flushed already.
        with suppress(ComputeRouterError):
            self.flush_activity()

    def _write_activity(
        self, session_id: str, *, now: float, agent_id: str = "", run_id: str = ""
    ) -> None:
        # Never moves the idle clock back: a late flush may land after a newer write.
        values: dict[str, Any] = {"last_active_at": _not_before(now), "updated_at": now}
        if agent_id:
            values["agent_id"] = agent_id
        if run_id:
            values["run_id"] = run_id
        with translate_store_errors(), self._engine.begin() as conn:
            conn.execute(sessions.update().where(sessions.c.id == session_id).values(**values))

    def take_over(
        self, record: SessionRecord, *, owner: str, lease_expires_at: float, now: float
    ) -> SessionRecord | None:
        """Claim an operation whose owner died: CAS on (state, version). ``None`` if beaten."""
        with translate_store_errors(), self._engine.begin() as conn:
            result = conn.execute(
                sessions.update()
                .where(
                    sessions.c.id == record.id,
                    sessions.c.state == record.state.value,
                    sessions.c.version == record.version,
                )
                .values(
                    owner=owner,
                    lease_expires_at=lease_expires_at,
                    version=sessions.c.version + 1,
                    updated_at=now,
                )
            )
            if result.rowcount != 1:
                return None
            return self._get(conn, record.id)

    def renew_lease(self, session_id: str, *, owner: str, lease_expires_at: float) -> bool:
        with translate_store_errors(), self._engine.begin() as conn:
            result = conn.execute(
                sessions.update()
                .where(sessions.c.id == session_id, sessions.c.owner == owner)
                .values(lease_expires_at=lease_expires_at)
            )
            return result.rowcount == 1

    # -- reads --------------------------------------------------------------------------------

    def get(self, session_id: str) -> SessionRecord | None:
        with translate_store_errors(), read_connection(self._engine) as conn:
            return self._get(conn, session_id)

    def require(self, session_id: str) -> SessionRecord:
        record = self.get(session_id)
        if record is None:
            raise SessionNotFound(session_id)
        return record

    def find_live(self, key: SessionKey) -> SessionRecord | None:
        """The live session of ``key``: one read on the partial unique index of live keys,
        in no transaction (the hot path of every warm ``ensure_session``)."""
        with translate_store_errors(), read_connection(self._engine) as conn:
            row = (
                conn.execute(_FIND_LIVE, {"user_id": key.user_id, "sandbox_id": key.sandbox_id})
                .mappings()
                .first()
            )
        return None if row is None else _to_record(row)

    def list(
        self,
        *,
        user_id: str | None = None,
        sandbox_id: str | None = None,
        states: Sequence[SessionState] | None = None,
        provider: str | None = None,
    ) -> builtins.list[SessionRecord]:
        query = sessions.select().order_by(sessions.c.created_at, sessions.c.id)
        if user_id is not None:
            query = query.where(sessions.c.user_id == user_id)
        if sandbox_id is not None:
            query = query.where(sessions.c.sandbox_id == sandbox_id)
        if states is not None:
            query = query.where(sessions.c.state.in_([s.value for s in states]))
        if provider is not None:
            query = query.where(sessions.c.provider == provider)
        with translate_store_errors(), read_connection(self._engine) as conn:
            return [_to_record(row) for row in conn.execute(query).mappings()]

    def history(self, session_id: str) -> builtins.list[TransitionRow]:
        query = (
            session_transitions.select()
            .where(session_transitions.c.session_id == session_id)
            .order_by(session_transitions.c.id)
        )
        with translate_store_errors(), read_connection(self._engine) as conn:
            return [
                TransitionRow(
                    session_id=row["session_id"],
                    from_state=SessionState(row["from_state"]) if row["from_state"] else None,
                    to_state=SessionState(row["to_state"]),
                    at=row["at"],
                    reason=row["reason"],
                )
                for row in conn.execute(query).mappings()
            ]

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def read(conn: Connection, session_id: str) -> SessionRecord | None:
        """The session row, read on ``conn`` (inside a caller's transaction)."""
        return SessionStore._get(conn, session_id)

    @staticmethod
    def from_row(row: RowMapping) -> SessionRecord:
        """A session row read by another store's query (the ledger's set reads)."""
        return _to_record(row)

    @staticmethod
    def _get(conn: Connection, session_id: str) -> SessionRecord | None:
        row = conn.execute(sessions.select().where(sessions.c.id == session_id)).mappings().first()
        return None if row is None else _to_record(row)

    @staticmethod
    def _log(
        conn: Connection,
        session_id: str,
        from_state: SessionState | None,
        to_state: SessionState,
        at: float,
        reason: str,
    ) -> None:
        conn.execute(
            session_transitions.insert().values(
                session_id=session_id,
                from_state=None if from_state is None else from_state.value,
                to_state=to_state.value,
                at=at,
                reason=reason,
            )
        )
