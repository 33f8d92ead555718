"""The ledger's hot statements, built once with bound parameters.

(In an ``UPDATE``, a parameter may not share a column's name: those are ``b_...``.)

A settle runs a few dozen statements; building and coercing each anew cost several times what
the database spends on it, so the ones on the settle and grant paths are built here once (the
dialect-specific upserts once per dialect) and executed with parameters.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from computerouter.store.ledger_rows import HoldState
from computerouter.store.schema import (
    ledger_accounts,
    ledger_entries,
    ledger_meters,
    ledger_runs,
    ledger_usage,
    runs,
    session_transitions,
    sessions,
)


def insert(conn: Connection, table: sa.Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


A = ledger_accounts.c
MOVE = (
    ledger_accounts.update()
    .where(A.id == sa.bindparam("account_id"))
    .values(balance=A.balance + sa.bindparam("delta"))
)
RUN_ENTRY = ledger_entries.select().where(
    ledger_entries.c.run_id == sa.bindparam("run_id"),
    ledger_entries.c.kind == sa.bindparam("kind"),
)
LEDGER_RUN = ledger_runs.select().where(ledger_runs.c.run_id == sa.bindparam("run_id"))
LEDGER_RUN_LOCKED = LEDGER_RUN.with_for_update()
RESERVED_LESS = (
    ledger_accounts.update()
    .where(A.id == sa.bindparam("account_id"))
    .values(reserved=A.reserved - sa.bindparam("amount"))
)
HOLD_LESS = (
    ledger_runs.update()
    .where(ledger_runs.c.run_id == sa.bindparam("b_run_id"))
    .values(hold=ledger_runs.c.hold - sa.bindparam("amount"))
)
HOLD_RELEASED = (
    ledger_runs.update()
    .where(ledger_runs.c.run_id == sa.bindparam("b_run_id"))
    .values(hold_state=HoldState.RELEASED.value)
)
METER_LOCKED = (
    ledger_meters.select()
    .where(ledger_meters.c.session_id == sa.bindparam("session_id"))
    .with_for_update()
)
SAVE_METER = (
    ledger_meters.update()
    .where(ledger_meters.c.session_id == sa.bindparam("meter_id"))
    .values(
        metered_to_ms=sa.bindparam("b_metered_to_ms"),
        running_ms=sa.bindparam("b_running_ms"),
        idle_ms=sa.bindparam("b_idle_ms"),
        carry=sa.bindparam("b_carry"),
    )
)
TRANSITIONS = (
    sa.select(session_transitions.c.to_state, session_transitions.c.at)
    .where(session_transitions.c.session_id == sa.bindparam("session_id"))
    .order_by(session_transitions.c.id)
)
SESSION_RUNS = runs.select().where(
    runs.c.session_id == sa.bindparam("session_id"),
    runs.c.started_at < sa.bindparam("before"),
    sa.or_(runs.c.ended_at.is_(None), runs.c.ended_at >= sa.bindparam("after")),
)
RUN = runs.select().where(runs.c.run_id == sa.bindparam("run_id"))

# -- set reads and one-statement writes of a settle batch (store.ledger_batch) ---------------
# Reads take the rows they lock in one order: meters, then run rows, then accounts, each by id.
IDS: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)
RUNS_IN = runs.select().where(runs.c.run_id.in_(IDS))
SESSIONS_IN = sessions.select().where(sessions.c.id.in_(IDS))
METERS_IN_LOCKED = (
    ledger_meters.select()
    .where(ledger_meters.c.session_id.in_(IDS))
    .order_by(ledger_meters.c.session_id)
    .with_for_update()
)
TRANSITIONS_IN = (
    sa.select(
        session_transitions.c.session_id, session_transitions.c.to_state, session_transitions.c.at
    )
    .where(session_transitions.c.session_id.in_(IDS))
    .order_by(session_transitions.c.session_id, session_transitions.c.id)
)


def _pg_type(column: sa.Column[Any]) -> str:
    if isinstance(column.type, sa.BigInteger):
        return "bigint"
    return "double precision" if isinstance(column.type, sa.Float) else "text"


_ENTRY_COLUMNS = [c for c in ledger_entries.c if c.name != "id"]
_QUOTED = ", ".join('"' + c.name + '"' for c in _ENTRY_COLUMNS)
POST_MANY_PG = sa.text(
    f"INSERT INTO ledger_entries ({_QUOTED}) "
    "SELECT * FROM unnest("
    + ", ".join(f"CAST(:{c.name} AS {_pg_type(c)}[])" for c in _ENTRY_COLUMNS)
    + ") ON CONFLICT DO NOTHING RETURNING *"
)
"""Many entries in one short statement on PostgreSQL: a column of values per parameter (a
long multi-row ``VALUES`` is parsed anew by the driver every time)."""

_SESSION_RUNS_IN: dict[int, Any] = {}


def session_runs_in(sessions_count: int) -> Any:
    """The runs of several sessions, each in its own window: ``s<i>`` the session, its runs
    started before ``b<i>`` and in flight or ended from ``a<i>`` on. Built once per count."""
    found = _SESSION_RUNS_IN.get(sessions_count)
    if found is None:
        r = runs.c
        found = runs.select().where(
            sa.or_(
                *(
                    sa.and_(
                        r.session_id == sa.bindparam(f"s{i}"),
                        r.started_at < sa.bindparam(f"b{i}"),
                        sa.or_(r.ended_at.is_(None), r.ended_at >= sa.bindparam(f"a{i}")),
                    )
                    for i in range(sessions_count)
                )
            )
        )
        _SESSION_RUNS_IN[sessions_count] = found
    return found


LEDGER_RUNS_IN_LOCKED = (
    ledger_runs.select()
    .where(ledger_runs.c.run_id.in_(IDS))
    .order_by(ledger_runs.c.run_id)
    .with_for_update()
)
RUN_ENTRIES_IN = ledger_entries.select().where(ledger_entries.c.run_id.in_(IDS))
USAGE_IN = (
    ledger_usage.select()
    .where(ledger_usage.c.run_id.in_(IDS))
    .order_by(ledger_usage.c.run_id, ledger_usage.c.model)
)
ACCOUNTS_IN_LOCKED = ledger_accounts.select().where(A.id.in_(IDS)).order_by(A.id).with_for_update()
ACCOUNT_SHIFT = (
    ledger_accounts.update()
    .where(A.id == sa.bindparam("account_id"), A.reserved + sa.bindparam("d_reserved") >= 0)
    .values(
        balance=A.balance + sa.bindparam("d_balance"),
        reserved=A.reserved + sa.bindparam("d_reserved"),
    )
)
"""An account's whole change in a settle, one statement: its balance and its reserved credit
move together (``reserved`` never below zero; the hold already kept the balance above the
floor)."""
L = ledger_runs.c
RUN_SAVE = (
    ledger_runs.update()
    .where(L.run_id == sa.bindparam("b_run_id"))
    .values(
        busy_ms=L.busy_ms + sa.bindparam("d_busy_ms"),
        session_id=sa.bindparam("b_session_id"),
        cpu_ms=sa.bindparam("b_cpu_ms"),
        hold=sa.bindparam("b_hold"),
        hold_state=sa.bindparam("b_hold_state"),
    )
)
RUN_CPU = (
    ledger_runs.update()
    .where(L.run_id == sa.bindparam("b_run_id"))
    .values(cpu_ms=sa.bindparam("b_cpu_ms"))
)
_PREPARED: dict[tuple[str, str], Any] = {}


def prepared(conn: Connection, name: str) -> Any:
    """The dialect's own form of an upsert (``ON CONFLICT``), built once per dialect."""
    key = (conn.dialect.name, name)
    found = _PREPARED.get(key)
    if found is None:
        if name == "post":
            found = (
                insert(conn, ledger_entries).on_conflict_do_nothing().returning(*ledger_entries.c)
            )
        elif name == "account":
            found = insert(conn, ledger_accounts).on_conflict_do_nothing()
        else:
            statement = insert(conn, ledger_runs)
            found = statement.on_conflict_do_update(
                index_elements=["run_id"],
                set_={
                    "busy_ms": ledger_runs.c.busy_ms + statement.excluded.busy_ms,
                    "session_id": statement.excluded.session_id,
                },
            )
        _PREPARED[key] = found
    return found
