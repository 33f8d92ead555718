"""Settling runs in few statements: one set read per table, the billing in memory, one write
per table.

:class:`SettleBatch` is a unit of work over one open ledger transaction. :meth:`SettleBatch.load`
reads the runs to settle and every row their billing touches with one statement per table (IN
lists), locking them in the order every ledger writer keeps (meters, then run rows, then
accounts, each sorted by id), so concurrent batches and single writers never deadlock. The
billing steps (:mod:`computerouter.ledger.billing`) then run against it exactly as they run
against a :class:`~computerouter.store.ledger.LedgerTxn` (both are :class:`LedgerOps`), on the
rows in memory; :meth:`SettleBatch.flush` writes what changed: each account with one ``UPDATE
... SET balance = balance + :d, reserved = reserved + :r``, every entry with one executemany
``INSERT ... ON CONFLICT DO NOTHING``, every run row and every meter with one executemany.

Idempotency stays with the database: if an entry's key or ``(run_id, kind)`` turns out to be
written already (a writer the locks did not cover), :meth:`flush` raises :class:`StaleBatch`
before the transaction commits, so the caller rolls it back and settles again, statement by
statement. :meth:`mark` and :meth:`undo` drop what one run's billing did in memory when it
fails part way, so one bad run never spoils the others of its batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from computerouter.domain.session import RunRecord, SessionRecord
from computerouter.domain.states import SessionState
from computerouter.store import ledger_statements as q
from computerouter.store.ledger import LedgerTxn
from computerouter.store.ledger_rows import (
    AccountBalance,
    EntryKind,
    HoldState,
    LedgerEntry,
    LedgerRun,
    MeterRow,
    NewEntry,
    UsageRow,
    entry_values,
    is_cached,
    to_entry,
    to_ledger_run,
)
from computerouter.store.runs import to_run
from computerouter.store.sessions import SessionStore

__all__ = ["LedgerOps", "SettleBatch", "StaleBatch"]

K = TypeVar("K")
V = TypeVar("V")
_MISSING: Any = object()
_MARGIN_S = 0.002
"""Slack (for the rounding to milliseconds) on each session's window of runs read up front;
the exact window of each metering step is applied in memory."""


class StaleBatch(Exception):
    """An entry of the batch was already written: roll back and settle statement by statement."""


class LedgerOps(Protocol):
    """What the billing steps read and write: a :class:`LedgerTxn` (a statement each) or a
    :class:`SettleBatch` (in memory, flushed at the end)."""

    def run(self, run_id: str) -> RunRecord | None: ...
    def session(self, session_id: str) -> SessionRecord | None: ...
    def lock_meter(self, session_id: str, *, start_ms: int) -> MeterRow: ...
    def save_meter(self, meter: MeterRow) -> None: ...
    def transitions(self, session_id: str) -> list[tuple[SessionState, float]]: ...
    def session_runs(self, session_id: str, *, after: float, before: float) -> list[RunRecord]: ...
    def ledger_run(self, run_id: str, *, lock: bool = False) -> LedgerRun | None: ...
    def add_busy(self, run: RunRecord, busy_ms: int, *, now: float) -> None: ...
    def note_cpu(self, run: RunRecord, cpu_ms: int, *, now: float) -> None: ...
    def usage(self, run_id: str) -> list[UsageRow]: ...
    def run_entry(self, run_id: str, kind: EntryKind) -> LedgerEntry | None: ...
    def account(self, account_id: str, *, lock: bool = False) -> AccountBalance | None: ...
    def post(self, entry: NewEntry) -> LedgerEntry | None: ...
    def consume_hold(self, run_id: str, amount: int, *, account_id: str) -> None: ...
    def release(self, run_id: str, *, account_id: str) -> bool: ...


class SettleBatch:
    """The rows of a few runs' settle, read once, changed in memory, written once."""

    def __init__(self, txn: LedgerTxn) -> None:
        self._txn = txn
        self._runs: dict[str, RunRecord | None] = {}
        self._sessions: dict[str, SessionRecord | None] = {}
        self._transitions: dict[str, list[tuple[SessionState, float]]] = {}
        self._session_runs: dict[str, list[RunRecord]] = {}
        self._windows: dict[str, tuple[float, float]] = {}
        self._usage: dict[str, list[UsageRow]] = {}
        self._entry_runs: set[str] = set()
        # Rows as read (the first dict) and as changed since (the second).
        self._meters0: dict[str, MeterRow] = {}
        self._meters: dict[str, MeterRow] = {}
        self._ledger_runs0: dict[str, LedgerRun | None] = {}
        self._ledger_runs: dict[str, LedgerRun | None] = {}
        self._accounts0: dict[str, AccountBalance | None] = {}
        self._accounts: dict[str, AccountBalance | None] = {}
        self._entries: dict[tuple[str, EntryKind], LedgerEntry] = {}
        self._new: dict[str, NewEntry] = {}
        self._journal: list[tuple[dict[Any, Any], Any, Any]] = []

    # -- reading up front ---------------------------------------------------------------------

    def load(
        self,
        run_ids: Sequence[str],
        *,
        now: float,
        meter_start: Callable[[SessionRecord], int],
    ) -> None:
        """Read the runs and all their settle touches, one statement a table, locking
        meters, run rows and accounts in that order. ``meter_start``: where a session's new
        meter begins (its creation, in metering's milliseconds); ``now``: when a run's row
        made here is."""
        conn = self._txn.conn
        ids = sorted(set(run_ids))
        for row in conn.execute(q.RUNS_IN, {"ids": ids}).mappings():
            self._runs[row["run_id"]] = to_run(row)
        for run_id in ids:
            self._runs.setdefault(run_id, None)
        found = [r for r in self._runs.values() if r is not None]
        session_ids = sorted({r.session_id for r in found})
        if session_ids:
            for row in conn.execute(q.SESSIONS_IN, {"ids": session_ids}).mappings():
                self._sessions[row["id"]] = SessionStore.from_row(row)
        for session_id in session_ids:
            self._sessions.setdefault(session_id, None)
        live = sorted(s.id for s in self._sessions.values() if s is not None)
        self._lock_meters([s for s in self._sessions.values() if s is not None], meter_start)
        others: set[str] = set()
        if live:
            for sid, state, at in conn.execute(q.TRANSITIONS_IN, {"ids": live}):
                self._transitions.setdefault(sid, []).append((SessionState(state), at))
            # Each session's runs in its own window: from its meter's cursor to the last end
            # among the runs to settle on it (the exact window of each metering step is
            # applied in memory).
            last_end: dict[str, float] = {}
            for r in found:
                if r.ended_at is not None and r.session_id in self._meters:
                    last_end[r.session_id] = max(r.ended_at, last_end.get(r.session_id, r.ended_at))
            for sid, end in last_end.items():
                start = self._meters[sid].metered_to_ms / 1000
                self._windows[sid] = (start - _MARGIN_S, end + _MARGIN_S)
            windowed = sorted(self._windows)
            if windowed:
                params: dict[str, Any] = {}
                for i, sid in enumerate(windowed):
                    after, before = self._windows[sid]
                    params |= {f"s{i}": sid, f"a{i}": after, f"b{i}": before}
                for row in conn.execute(q.session_runs_in(len(windowed)), params).mappings():
                    run = to_run(row)
                    self._session_runs.setdefault(run.session_id, []).append(run)
                    others.add(run.run_id)
            for sid in windowed:
                self._session_runs.setdefault(sid, [])
            for sid in live:
                self._transitions.setdefault(sid, [])
        self._load_ledger_runs(sorted(others | set(ids)))
        self._make_ledger_runs(
            [r for r in found if self._ledger_runs.get(r.run_id) is None], now=now
        )
        for row in conn.execute(q.RUN_ENTRIES_IN, {"ids": ids}).mappings():
            entry = to_entry(row)
            assert entry.run_id is not None
            self._entries[(entry.run_id, entry.kind)] = entry
        self._entry_runs.update(ids)
        for row in conn.execute(q.USAGE_IN, {"ids": ids}).mappings():
            self._usage.setdefault(row["run_id"], []).append(
                UsageRow(
                    run_id=row["run_id"],
                    model=row["model"],
                    input_tokens=row["input_tokens"],
                    output_tokens=row["output_tokens"],
                )
            )
        for run_id in ids:
            self._usage.setdefault(run_id, [])
        self._load_accounts(sorted({f"user:{r.user_id}" for r in found}))

    def _lock_meters(
        self, live: Iterable[SessionRecord], meter_start: Callable[[SessionRecord], int]
    ) -> None:
        wanted = {s.id: s for s in live}
        if not wanted:
            return
        rows = self._txn.conn.execute(q.METERS_IN_LOCKED, {"ids": sorted(wanted)}).mappings()
        for row in rows:
            self._meters0[row["session_id"]] = self._meters[row["session_id"]] = MeterRow(
                session_id=row["session_id"],
                metered_to_ms=row["metered_to_ms"],
                running_ms=row["running_ms"],
                idle_ms=row["idle_ms"],
                carry=row["carry"],
            )
        for sid in sorted(set(wanted) - set(self._meters)):  # new sessions: made, then locked
            meter = self._txn.lock_meter(sid, start_ms=meter_start(wanted[sid]))
            self._meters0[sid] = self._meters[sid] = meter

    def _load_ledger_runs(self, ids: list[str]) -> None:
        if not ids:
            return
        for row in self._txn.conn.execute(q.LEDGER_RUNS_IN_LOCKED, {"ids": ids}).mappings():
            self._ledger_runs0[row["run_id"]] = self._ledger_runs[row["run_id"]] = to_ledger_run(
                row
            )
        for run_id in ids:
            self._ledger_runs0.setdefault(run_id, None)
            self._ledger_runs.setdefault(run_id, None)

    def _make_ledger_runs(self, missing: list[RunRecord], *, now: float) -> None:
        """A run to settle with no row yet (it held nothing) gets one now, locked like the
        rest, so a usage report cannot slip in between the usage read and the token entry."""
        if not missing:
            return
        rows = [
            {
                "run_id": r.run_id,
                "user_id": r.user_id,
                "sandbox_id": r.sandbox_id,
                "agent_id": r.agent_id,
                "session_id": r.session_id,
                "busy_ms": 0,
                "created_at": now,
            }
            for r in sorted(missing, key=lambda r: r.run_id)
        ]
        self._txn.conn.execute(q.prepared(self._txn.conn, "add_busy"), rows)
        for r in missing:
            del self._ledger_runs0[r.run_id], self._ledger_runs[r.run_id]
        self._load_ledger_runs(sorted(r.run_id for r in missing))

    def _load_accounts(self, ids: list[str]) -> None:
        if not ids:
            return
        for row in self._txn.conn.execute(q.ACCOUNTS_IN_LOCKED, {"ids": ids}).mappings():
            found = AccountBalance(
                account_id=row["id"],
                user_id=row["user_id"],
                balance=row["balance"],
                reserved=row["reserved"],
            )
            self._accounts0[found.account_id] = self._accounts[found.account_id] = found
        for account_id in ids:
            self._accounts0.setdefault(account_id, None)
            self._accounts.setdefault(account_id, None)

    # -- undo ---------------------------------------------------------------------------------

    def mark(self) -> int:
        return len(self._journal)

    def undo(self, mark: int) -> None:
        """Forget every change made in memory since :meth:`mark` returned ``mark``."""
        while len(self._journal) > mark:
            table, key, old = self._journal.pop()
            if old is _MISSING:
                del table[key]
            else:
                table[key] = old

    def _set(self, table: dict[K, V], key: K, value: V) -> None:
        self._journal.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    # -- LedgerOps, in memory (a row not read up front is read now, on the transaction) ------

    def run(self, run_id: str) -> RunRecord | None:
        if run_id not in self._runs:
            self._runs[run_id] = self._txn.run(run_id)
        return self._runs[run_id]

    def session(self, session_id: str) -> SessionRecord | None:
        if session_id not in self._sessions:
            self._sessions[session_id] = self._txn.session(session_id)
        return self._sessions[session_id]

    def lock_meter(self, session_id: str, *, start_ms: int) -> MeterRow:
        if session_id not in self._meters:
            meter = self._txn.lock_meter(session_id, start_ms=start_ms)
            self._meters0[session_id] = self._meters[session_id] = meter
        return self._meters[session_id]

    def save_meter(self, meter: MeterRow) -> None:
        self.lock_meter(meter.session_id, start_ms=meter.metered_to_ms)
        self._set(self._meters, meter.session_id, meter)

    def transitions(self, session_id: str) -> list[tuple[SessionState, float]]:
        if session_id not in self._transitions:
            self._transitions[session_id] = self._txn.transitions(session_id)
        return self._transitions[session_id]

    def session_runs(self, session_id: str, *, after: float, before: float) -> list[RunRecord]:
        lo, hi = self._windows.get(session_id, (0.0, 0.0))
        if session_id not in self._session_runs or after < lo or before > hi:
            return self._txn.session_runs(session_id, after=after, before=before)
        return [
            r
            for r in self._session_runs[session_id]
            if r.started_at < before and (r.ended_at is None or r.ended_at >= after)
        ]

    def ledger_run(self, run_id: str, *, lock: bool = False) -> LedgerRun | None:
        if run_id not in self._ledger_runs:
            found = self._txn.ledger_run(run_id, lock=True)
            self._ledger_runs0[run_id] = self._ledger_runs[run_id] = found
        return self._ledger_runs[run_id]

    def add_busy(self, run: RunRecord, busy_ms: int, *, now: float) -> None:
        current = self.ledger_run(run.run_id)
        if current is None:
            current = LedgerRun(
                run_id=run.run_id,
                user_id=run.user_id,
                sandbox_id=run.sandbox_id,
                agent_id=run.agent_id,
                session_id=run.session_id,
                hold=0,
                hold_state=HoldState.NONE,
                busy_ms=busy_ms,
                cpu_ms=None,
                created_at=now,
            )
        else:
            current = replace(current, busy_ms=current.busy_ms + busy_ms, session_id=run.session_id)
        self._set(self._ledger_runs, run.run_id, current)

    def note_cpu(self, run: RunRecord, cpu_ms: int, *, now: float) -> None:
        self.add_busy(run, 0, now=now)
        current = self._ledger_runs[run.run_id]
        assert current is not None
        self._set(self._ledger_runs, run.run_id, replace(current, cpu_ms=cpu_ms))

    def usage(self, run_id: str) -> list[UsageRow]:
        if run_id not in self._usage:
            self._usage[run_id] = self._txn.usage(run_id)
        return self._usage[run_id]

    def run_entry(self, run_id: str, kind: EntryKind) -> LedgerEntry | None:
        if run_id not in self._entry_runs:
            for k in (EntryKind.TOKEN, EntryKind.COMPUTE):
                found = self._txn.run_entry(run_id, k)
                if found is not None:
                    self._entries[(run_id, k)] = found
            self._entry_runs.add(run_id)
        return self._entries.get((run_id, kind))

    def account(self, account_id: str, *, lock: bool = False) -> AccountBalance | None:
        if account_id not in self._accounts:
            found = self._txn.account(account_id, lock=True)
            self._accounts0[account_id] = self._accounts[account_id] = found
        return self._accounts[account_id]

    def post(self, entry: NewEntry) -> LedgerEntry | None:
        assert entry.amount >= 0
        assert entry.debit_account != entry.credit_account
        if entry.key in self._new:
            return None
        if entry.run_id is not None and self.run_entry(entry.run_id, entry.kind) is not None:
            return None
        for account_id in sorted((entry.debit_account, entry.credit_account)):
            if is_cached(account_id):
                delta = entry.amount if account_id == entry.credit_account else -entry.amount
                self._shift(account_id, balance=delta)
        self._set(self._new, entry.key, entry)
        values = entry_values(entry) | {"kind": entry.kind}
        posted = LedgerEntry(**values, id=0)  # its id once flushed
        if entry.run_id is not None:
            self._set(self._entries, (entry.run_id, entry.kind), posted)
        return posted

    def _shift(self, account_id: str, *, balance: int = 0, reserved: int = 0) -> None:
        current = self.account(account_id) or AccountBalance(
            account_id=account_id,
            user_id=account_id.removeprefix("user:"),
            balance=0,
            reserved=0,
        )
        moved = replace(
            current, balance=current.balance + balance, reserved=current.reserved + reserved
        )
        self._set(self._accounts, account_id, moved)

    def consume_hold(self, run_id: str, amount: int, *, account_id: str) -> None:
        run = self.ledger_run(run_id, lock=True)
        if run is None or run.hold_state is not HoldState.HELD:
            return
        used = min(amount, run.hold)
        if used <= 0:
            return
        self._set(self._ledger_runs, run_id, replace(run, hold=run.hold - used))
        self._shift(account_id, reserved=-used)

    def release(self, run_id: str, *, account_id: str) -> bool:
        run = self.ledger_run(run_id, lock=True)
        if run is None or run.hold_state is not HoldState.HELD:
            return False
        self._set(self._ledger_runs, run_id, replace(run, hold_state=HoldState.RELEASED))
        self._shift(account_id, reserved=-run.hold)
        return True

    # -- writing ------------------------------------------------------------------------------

    def flush(self, *, now: float) -> dict[str, LedgerEntry]:
        """Write every change, one statement per table; the entries written, by key.

        Raises :class:`StaleBatch` if an entry was already written (the caller rolls back).
        """
        conn = self._txn.conn
        shifts: list[dict[str, Any]] = []
        made: list[dict[str, Any]] = []
        for account_id in sorted(self._accounts):
            after = self._accounts[account_id]
            before = self._accounts0.get(account_id)
            if after is None or after == before:
                continue
            if before is None:
                made.append(
                    {
                        "id": account_id,
                        "user_id": after.user_id,
                        "balance": 0,
                        "reserved": 0,
                        "created_at": now,
                    }
                )
            shifts.append(
                {
                    "account_id": account_id,
                    "d_balance": after.balance - (0 if before is None else before.balance),
                    "d_reserved": after.reserved - (0 if before is None else before.reserved),
                }
            )
        if made:
            conn.execute(q.prepared(conn, "account"), made)
        # Counted (both drivers sum an executemany's rows), so a refused change cannot pass.
        if shifts and conn.execute(q.ACCOUNT_SHIFT, shifts).rowcount != len(shifts):
            raise StaleBatch("an account of the batch could not move")
        written: dict[str, LedgerEntry] = {}
        if self._new:
            rows = [entry_values(e) for e in self._new.values()]
            if conn.dialect.name == "postgresql":
                inserted = conn.execute(q.POST_MANY_PG, {k: [r[k] for r in rows] for k in rows[0]})
            else:
                inserted = conn.execute(q.prepared(conn, "post"), rows)
            for row in inserted.mappings():
                entry = to_entry(row)
                written[entry.key] = entry
            if len(written) != len(rows):
                raise StaleBatch("an entry of the batch was already written")
        self._flush_runs(now=now)
        meters = [
            {
                "meter_id": m.session_id,
                "b_metered_to_ms": m.metered_to_ms,
                "b_running_ms": m.running_ms,
                "b_idle_ms": m.idle_ms,
                "b_carry": m.carry,
            }
            for sid, m in sorted(self._meters.items())
            if m != self._meters0.get(sid)
        ]
        if meters:
            conn.execute(q.SAVE_METER, meters)
        return written

    def _flush_runs(self, *, now: float) -> None:
        conn = self._txn.conn
        made: list[dict[str, Any]] = []
        cpu: list[dict[str, Any]] = []
        saved: list[dict[str, Any]] = []
        for run_id in sorted(self._ledger_runs):
            after = self._ledger_runs[run_id]
            before = self._ledger_runs0.get(run_id)
            if after is None or after == before:
                continue
            if before is None:  # a new row: made (or added to, if one appeared meanwhile)
                made.append(
                    {
                        "run_id": run_id,
                        "user_id": after.user_id,
                        "sandbox_id": after.sandbox_id,
                        "agent_id": after.agent_id,
                        "session_id": after.session_id,
                        "busy_ms": after.busy_ms,
                        "created_at": after.created_at,
                    }
                )
                if after.cpu_ms is not None:
                    cpu.append({"b_run_id": run_id, "b_cpu_ms": after.cpu_ms})
                continue
            saved.append(
                {
                    "b_run_id": run_id,
                    "d_busy_ms": after.busy_ms - before.busy_ms,
                    "b_session_id": after.session_id,
                    "b_cpu_ms": after.cpu_ms,
                    "b_hold": after.hold,
                    "b_hold_state": after.hold_state.value,
                }
            )
        if made:
            conn.execute(q.prepared(conn, "add_busy"), made)
        if cpu:
            conn.execute(q.RUN_CPU, cpu)
        if saved:
            conn.execute(q.RUN_SAVE, saved)
