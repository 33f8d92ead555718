"""Ledger reads: entries, totals for reports, the audit, and what the repair pass must visit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from computerouter.domain.session import RunState
from computerouter.store.errors import translate_store_errors
from computerouter.store.ledger_rows import (
    PLATFORM_ACCOUNTS,
    AccountBalance,
    EntryKind,
    HoldState,
    LedgerEntry,
    LedgerRun,
    MeterRow,
    is_cached,
    to_entry,
    to_ledger_run,
)
from computerouter.store.schema import (
    ledger_accounts,
    ledger_entries,
    ledger_meters,
    ledger_runs,
    runs,
    sessions,
)

__all__ = ["EntryFilter", "HeldRun", "KindTotal", "LedgerQueries"]

_ENDED = sorted(RunState.ENDED)


@dataclass(frozen=True, kw_only=True, slots=True)
class HeldRun:
    """A hold still counted, and what is known of its run."""

    run: LedgerRun
    run_state: str | None
    """The run's state; ``None``: it never began (no run row)."""
    run_owner: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class EntryFilter:
    user_id: str | None = None
    sandbox_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    session_id: str | None = None
    since: float | None = None
    kinds: Sequence[EntryKind] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class KindTotal:
    """Sums of one kind of entry for one (user, sandbox, agent)."""

    user_id: str
    sandbox_id: str
    agent_id: str
    kind: EntryKind
    runs: int
    entries: int
    amount: int
    quantity_ms: int
    input_tokens: int
    output_tokens: int


def _where(query: sa.Select[tuple[object, ...]], f: EntryFilter) -> sa.Select[tuple[object, ...]]:
    c = ledger_entries.c
    if f.user_id is not None:
        query = query.where(c.user_id == f.user_id)
    if f.sandbox_id is not None:
        query = query.where(c.sandbox_id == f.sandbox_id)
    if f.agent_id is not None:
        query = query.where(c.agent_id == f.agent_id)
    if f.run_id is not None:
        query = query.where(c.run_id == f.run_id)
    if f.session_id is not None:
        query = query.where(c.session_id == f.session_id)
    if f.since is not None:
        query = query.where(c.at >= f.since)
    if f.kinds is not None:
        query = query.where(c.kind.in_([k.value for k in f.kinds]))
    return query


class LedgerQueries:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def entries(self, f: EntryFilter = EntryFilter()) -> list[LedgerEntry]:
        query = _where(sa.select(ledger_entries), f).order_by(ledger_entries.c.id)
        with translate_store_errors(), self._engine.connect() as conn:
            return [to_entry(row) for row in conn.execute(query).mappings()]

    def totals(self, f: EntryFilter = EntryFilter()) -> list[KindTotal]:
        c = ledger_entries.c
        query = _where(
            sa.select(
                c.user_id,
                c.sandbox_id,
                c.agent_id,
                c.kind,
                sa.func.count(sa.distinct(c.run_id)),
                sa.func.count(),
                sa.func.sum(c.amount),
                sa.func.sum(c.quantity_ms),
                sa.func.sum(c.input_tokens),
                sa.func.sum(c.output_tokens),
            ),
            f,
        ).group_by(c.user_id, c.sandbox_id, c.agent_id, c.kind)
        with translate_store_errors(), self._engine.connect() as conn:
            rows: list[Any] = list(conn.execute(query).all())
        return sorted(
            (
                KindTotal(
                    user_id=r[0],
                    sandbox_id=r[1],
                    agent_id=r[2],
                    kind=EntryKind(r[3]),
                    runs=int(r[4]),
                    entries=int(r[5]),
                    amount=int(r[6] or 0),
                    quantity_ms=int(r[7] or 0),
                    input_tokens=int(r[8] or 0),
                    output_tokens=int(r[9] or 0),
                )
                for r in rows
            ),
            key=lambda t: (t.user_id, t.sandbox_id, t.agent_id, t.kind.value),
        )

    def accounts(self) -> list[AccountBalance]:
        """Every account: users' cached balances, platform balances summed from entries."""
        query = ledger_accounts.select().order_by(ledger_accounts.c.id)
        with translate_store_errors(), self._engine.connect() as conn:
            rows = list(conn.execute(query).mappings())
        summed = {a: self.balances_from_entries(a).get(a, 0) for a in PLATFORM_ACCOUNTS}
        return [
            AccountBalance(
                account_id=r["id"],
                user_id=r["user_id"],
                balance=r["balance"] if is_cached(r["id"]) else summed.get(r["id"], 0),
                reserved=r["reserved"],
            )
            for r in rows
        ]

    def balances_from_entries(self, account_id: str | None = None) -> dict[str, int]:
        """Balances recomputed from the entries alone (credits minus debits): every account's,
        or one account's."""
        c = ledger_entries.c
        credits = sa.select(c.credit_account.label("account"), c.amount.label("delta"))
        debits = sa.select(c.debit_account.label("account"), (-c.amount).label("delta"))
        if account_id is not None:
            credits = credits.where(c.credit_account == account_id)
            debits = debits.where(c.debit_account == account_id)
            if account_id.startswith("user:"):  # every entry of user:U carries user_id U
                owner = account_id.removeprefix("user:")
                credits = credits.where(c.user_id == owner)
                debits = debits.where(c.user_id == owner)
        sides = sa.union_all(credits, debits).subquery()
        query = sa.select(sides.c.account, sa.func.sum(sides.c.delta)).group_by(sides.c.account)
        with translate_store_errors(), self._engine.connect() as conn:
            return {str(a): int(total or 0) for a, total in conn.execute(query)}

    def meter(self, session_id: str) -> MeterRow | None:
        query = ledger_meters.select().where(ledger_meters.c.session_id == session_id)
        with translate_store_errors(), self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return MeterRow(
            session_id=row["session_id"],
            metered_to_ms=row["metered_to_ms"],
            running_ms=row["running_ms"],
            idle_ms=row["idle_ms"],
            carry=row["carry"],
        )

    # -- what the repair pass visits ----------------------------------------------------------

    def ended_runs_missing_entries(self, *, limit: int = 1000) -> list[str]:
        """Ended runs without their token entry or their compute entry, oldest first."""

        def missing(kind: EntryKind) -> sa.ColumnElement[bool]:
            return ~sa.exists().where(
                ledger_entries.c.run_id == runs.c.run_id, ledger_entries.c.kind == kind.value
            )

        query = (
            sa.select(runs.c.run_id)
            .where(
                runs.c.state.in_(_ENDED),
                sa.or_(missing(EntryKind.TOKEN), missing(EntryKind.COMPUTE)),
            )
            .order_by(runs.c.ended_at, runs.c.run_id)
            .limit(limit)
        )
        with translate_store_errors(), self._engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(query)]

    def sessions_to_meter(self, *, flush_before_ms: int) -> list[str]:
        """Sessions with running time not yet attributed: never metered, changed state since
        their last metering, or running and last metered before ``flush_before_ms``.

        "Changed state since" is judged in metering's milliseconds: a change at ``at`` is past
        the cursor when ``to_ms(at) > metered_to_ms``, that is when ``at * 1000`` reaches the
        rounding boundary ``metered_to_ms + 0.5``, not the next whole millisecond (a change at
        177.9998 ms is metering's millisecond 178, and its last millisecond of running time
        would otherwise never be attributed). On an exact tie this may pick a session with
        nothing new, which is harmless: metering it again only moves its cursor forward.
        """
        m = ledger_meters.c
        s = sessions.c
        # Float, so PostgreSQL compares double with double (bigint + 0.5 would be numeric).
        boundary = sa.cast(m.metered_to_ms, sa.Float) + 0.5
        query = (
            sa.select(s.id)
            .select_from(sessions.outerjoin(ledger_meters, m.session_id == s.id))
            .where(
                sa.or_(
                    m.session_id.is_(None),
                    s.state_changed_at * 1000 >= boundary,
                    sa.and_(s.state == "running", m.metered_to_ms < flush_before_ms),
                )
            )
            .order_by(s.created_at, s.id)
        )
        with translate_store_errors(), self._engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(query)]

    def held_runs(self) -> list[HeldRun]:
        """Every hold still counted, with the state and owner of its run (``None`` when the
        run never began)."""
        lr = ledger_runs.c
        query = (
            sa.select(ledger_runs, runs.c.state.label("run_state"), runs.c.owner.label("run_owner"))
            .select_from(ledger_runs.outerjoin(runs, runs.c.run_id == lr.run_id))
            .where(lr.hold_state == HoldState.HELD.value)
            .order_by(lr.created_at, lr.run_id)
        )
        with translate_store_errors(), self._engine.connect() as conn:
            return [
                HeldRun(run=to_ledger_run(r), run_state=r["run_state"], run_owner=r["run_owner"])
                for r in conn.execute(query).mappings()
            ]
