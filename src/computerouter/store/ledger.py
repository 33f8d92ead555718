"""Ledger persistence: idempotent double-entry writes, atomic credit holds, session meters.

Every write happens inside :meth:`LedgerStore.transaction`, through :class:`LedgerTxn`, so the
ledger's rules (in :mod:`computerouter.ledger`) compose several steps into one transaction.

Concurrency, on SQLite and PostgreSQL alike:

- an entry is ``INSERT ... ON CONFLICT DO NOTHING`` on its key and on ``(run_id, kind)``, and
  the balances move only if the row was inserted, in the same transaction: replaying a write
  never bills twice;
- a hold is sized from the account's locked row (``SELECT ... FOR UPDATE``: what is available
  above the floor, at most the run's maximum) and taken by one conditional ``UPDATE ... SET
  reserved = reserved + :hold WHERE balance - reserved - :hold >= :floor``: PostgreSQL
  re-checks the condition against the row a concurrent writer just committed, SQLite admits
  one writer at a time (``BEGIN IMMEDIATE``), so concurrent runs can never hold more than the
  balance allows;
- a session's meter row is locked (``SELECT ... FOR UPDATE``) while its time is attributed;
- rows are locked in one order (meter, run, accounts sorted by id), so writers never deadlock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from computerouter.domain.session import RunRecord, SessionRecord
from computerouter.domain.states import SessionState
from computerouter.store import ledger_statements as q
from computerouter.store.errors import translate_store_errors
from computerouter.store.ledger_queries import LedgerQueries
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
from computerouter.store.schema import (
    ledger_accounts,
    ledger_entries,
    ledger_meters,
    ledger_runs,
    ledger_usage,
)
from computerouter.store.sessions import SessionStore

__all__ = ["LedgerStore", "LedgerTxn"]


def _insert_ignore(conn: Connection, table: sa.Table, values: Mapping[str, Any]) -> bool:
    """Insert unless a unique key already holds the row; ``True`` if this call inserted it.

    Told by ``RETURNING`` rather than ``rowcount``, which drivers do not all report for
    ``INSERT ... ON CONFLICT``.
    """
    key = next(iter(table.primary_key.columns))
    statement = q.insert(conn, table).values(**values).on_conflict_do_nothing().returning(key)
    return conn.execute(statement).first() is not None


class LedgerTxn:
    """The write primitives, bound to one open transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- accounts and entries -----------------------------------------------------------------

    def ensure_account(self, account_id: str, *, user_id: str | None, now: float) -> None:
        _insert_ignore(
            self.conn,
            ledger_accounts,
            {"id": account_id, "user_id": user_id, "balance": 0, "reserved": 0, "created_at": now},
        )

    def post(self, entry: NewEntry) -> LedgerEntry | None:
        """Write ``entry`` and move the user's cached balance; ``None`` if its key or its
        (run, kind) is already written (and then nothing changed)."""
        assert entry.amount >= 0
        assert entry.debit_account != entry.credit_account
        moves = [
            (account, entry.amount if account == entry.credit_account else -entry.amount)
            for account in sorted((entry.debit_account, entry.credit_account))
            if is_cached(account)
        ]
        # The balance first (it creates a new user's account, which the entry refers to).
        for account, delta in moves:
            self._move(account, delta, now=entry.at)
        inserted = self.conn.execute(q.prepared(self.conn, "post"), entry_values(entry))
        row = inserted.mappings().first()
        if row is None:  # a replay: put the balances back, in this same transaction
            for account, delta in moves:
                self._move(account, -delta, now=entry.at)
            return None
        return to_entry(row)

    def _move(self, account_id: str, delta: int, *, now: float) -> None:
        params = {"account_id": account_id, "delta": delta}
        if self.conn.execute(q.MOVE, params).rowcount == 1:
            return
        self.ensure_account(account_id, user_id=account_id.removeprefix("user:"), now=now)
        self.conn.execute(q.MOVE, params)

    def entry(self, key: str) -> LedgerEntry | None:
        query = ledger_entries.select().where(ledger_entries.c.key == key)
        row = self.conn.execute(query).mappings().first()
        return None if row is None else to_entry(row)

    def run_entry(self, run_id: str, kind: EntryKind) -> LedgerEntry | None:
        params = {"run_id": run_id, "kind": kind.value}
        row = self.conn.execute(q.RUN_ENTRY, params).mappings().first()
        return None if row is None else to_entry(row)

    def account(self, account_id: str, *, lock: bool = False) -> AccountBalance | None:
        query = ledger_accounts.select().where(ledger_accounts.c.id == account_id)
        if lock:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        if row is None:
            return None
        return AccountBalance(
            account_id=row["id"],
            user_id=row["user_id"],
            balance=row["balance"],
            reserved=row["reserved"],
        )

    # -- holds --------------------------------------------------------------------------------

    def hold(
        self, run: LedgerRun, *, account_id: str, floor: int, minimum: int, now: float
    ) -> bool | None:
        """Hold up to ``run.hold`` of the account for the run, atomically: what is available
        above ``floor``, at most ``run.hold``, and at least ``minimum``.

        ``True``: held now (the amount is on the run's row); ``None``: the run already held
        (a retry); ``False``: the account cannot cover ``minimum`` (nothing changed).
        """
        existing = self.ledger_run(run.run_id, lock=True)
        if existing is not None and existing.hold_state is not HoldState.NONE:
            return None
        self.ensure_account(account_id, user_id=run.user_id, now=now)
        a = ledger_accounts.c
        # The account's row is locked first (SQLite: the transaction began IMMEDIATE), so the
        # amount read here is the amount the conditional UPDATE below is checked against.
        row = self.conn.execute(
            sa.select(a.balance, a.reserved).where(a.id == account_id).with_for_update()
        ).one()
        held = min(run.hold, int(row.balance) - int(row.reserved) - floor)
        if held < max(minimum, 0):
            return False
        moved = self.conn.execute(
            ledger_accounts.update()
            .where(a.id == account_id, a.balance - a.reserved - held >= floor)
            .values(reserved=a.reserved + held)
        )
        if moved.rowcount != 1:
            return False
        values = asdict(run)
        values.update(hold=held, ceiling=held, hold_state=HoldState.HELD.value)
        if existing is None:
            self.conn.execute(ledger_runs.insert().values(**values))
        else:
            self.conn.execute(
                ledger_runs.update()
                .where(ledger_runs.c.run_id == run.run_id)
                .values(hold=held, ceiling=held, hold_state=HoldState.HELD.value, owner=run.owner)
            )
        return True

    def consume_hold(self, run_id: str, amount: int, *, account_id: str) -> None:
        """A charge of the run was posted: that much of its hold is spent, not held any more
        (so ``balance - reserved`` never dips while a run's charges land one by one)."""
        run = self.ledger_run(run_id, lock=True)
        if run is None or run.hold_state is not HoldState.HELD:
            return
        used = min(amount, run.hold)
        if used <= 0:
            return
        self.conn.execute(q.HOLD_LESS, {"b_run_id": run_id, "amount": used})
        self.conn.execute(q.RESERVED_LESS, {"account_id": account_id, "amount": used})

    def release(self, run_id: str, *, account_id: str) -> bool:
        """Give a run's hold back (settled or abandoned); ``False`` if nothing was held."""
        run = self.ledger_run(run_id, lock=True)
        if run is None or run.hold_state is not HoldState.HELD:
            return False
        self.conn.execute(q.HOLD_RELEASED, {"b_run_id": run_id})
        self.conn.execute(q.RESERVED_LESS, {"account_id": account_id, "amount": run.hold})
        return True

    # -- runs, usage, meters ------------------------------------------------------------------

    def ledger_run(self, run_id: str, *, lock: bool = False) -> LedgerRun | None:
        query = q.LEDGER_RUN_LOCKED if lock else q.LEDGER_RUN
        row = self.conn.execute(query, {"run_id": run_id}).mappings().first()
        return None if row is None else to_ledger_run(row)

    def add_busy(self, run: RunRecord, busy_ms: int, *, now: float) -> None:
        """Add metered busy time to the run's row (made if new), which stays locked."""
        values = {
            "run_id": run.run_id,
            "user_id": run.user_id,
            "sandbox_id": run.sandbox_id,
            "agent_id": run.agent_id,
            "session_id": run.session_id,
            "busy_ms": busy_ms,
            "created_at": now,
        }
        self.conn.execute(q.prepared(self.conn, "add_busy"), values)

    def note_cpu(self, run: RunRecord, cpu_ms: int, *, now: float) -> None:
        self.add_busy(run, 0, now=now)
        self.conn.execute(
            ledger_runs.update().where(ledger_runs.c.run_id == run.run_id).values(cpu_ms=cpu_ms)
        )

    def set_usage(self, usage: UsageRow) -> None:
        values = asdict(usage)
        self.conn.execute(
            q.insert(self.conn, ledger_usage)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["run_id", "model"],
                set_={"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
            )
        )

    def usage(self, run_id: str) -> list[UsageRow]:
        query = (
            ledger_usage.select()
            .where(ledger_usage.c.run_id == run_id)
            .order_by(ledger_usage.c.model)
        )
        return [
            UsageRow(
                run_id=r["run_id"],
                model=r["model"],
                input_tokens=r["input_tokens"],
                output_tokens=r["output_tokens"],
            )
            for r in self.conn.execute(query).mappings()
        ]

    def lock_meter(self, session_id: str, *, start_ms: int) -> MeterRow:
        """The session's meter, locked for this transaction (made at ``start_ms`` if new)."""
        params = {"session_id": session_id}
        row = self.conn.execute(q.METER_LOCKED, params).mappings().first()
        if row is None:
            _insert_ignore(
                self.conn,
                ledger_meters,
                {"session_id": session_id, "metered_to_ms": start_ms},
            )
            row = self.conn.execute(q.METER_LOCKED, params).mappings().one()
        return MeterRow(
            session_id=row["session_id"],
            metered_to_ms=row["metered_to_ms"],
            running_ms=row["running_ms"],
            idle_ms=row["idle_ms"],
            carry=row["carry"],
        )

    def save_meter(self, meter: MeterRow) -> None:
        self.conn.execute(
            q.SAVE_METER,
            {
                "meter_id": meter.session_id,
                "b_metered_to_ms": meter.metered_to_ms,
                "b_running_ms": meter.running_ms,
                "b_idle_ms": meter.idle_ms,
                "b_carry": meter.carry,
            },
        )

    def transitions(self, session_id: str) -> list[tuple[SessionState, float]]:
        rows = self.conn.execute(q.TRANSITIONS, {"session_id": session_id})
        return [(SessionState(state), at) for state, at in rows]

    def session_runs(self, session_id: str, *, after: float, before: float) -> list[RunRecord]:
        """Runs on the session that overlap ``[after, before)`` (in flight or ended)."""
        params = {"session_id": session_id, "after": after, "before": before}
        return [to_run(r) for r in self.conn.execute(q.SESSION_RUNS, params).mappings()]

    def run(self, run_id: str) -> RunRecord | None:
        row = self.conn.execute(q.RUN, {"run_id": run_id}).mappings().first()
        return None if row is None else to_run(row)

    def session(self, session_id: str) -> SessionRecord | None:
        """The session row, read in this transaction (a settle needs its provider and size)."""
        return SessionStore.read(self.conn, session_id)


class LedgerStore(LedgerQueries):
    """The ledger's tables: reads from :class:`LedgerQueries`, writes through :class:`LedgerTxn`."""

    @contextmanager
    def transaction(self) -> Iterator[LedgerTxn]:
        with translate_store_errors(), self._engine.begin() as conn:
            yield LedgerTxn(conn)

    @contextmanager
    def reading(self) -> Iterator[LedgerTxn]:
        with translate_store_errors(), self._engine.connect() as conn:
            yield LedgerTxn(conn)

    def account(self, account_id: str) -> AccountBalance | None:
        with self.reading() as txn:
            return txn.account(account_id)
