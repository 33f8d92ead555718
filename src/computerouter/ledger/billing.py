"""The billing steps, each run inside one ledger transaction.

- :func:`meter` attributes a session's running time up to a moment: busy milliseconds are added
  to the runs in flight (they are billed when each run ends), idle milliseconds are billed to
  the sandbox at once as an ``idle`` entry (never more than the user has above the floor). The
  session's meter row is locked meanwhile and its
  cursor only moves forward, so no millisecond is attributed twice.
- :func:`bill_tokens` and :func:`bill_compute` write a run's two entries. Each is idempotent on
  ``(run_id, kind)``: called again, it returns the entry already written and changes nothing.
- :func:`settle` is a run's whole end: its CPU note, then both entries, in one transaction.

Each step runs against :class:`~computerouter.store.ledger_batch.LedgerOps`: a ledger
transaction (a statement per read and write), or a settle batch (the rows read up front, the
steps in memory, one write per table at the end): the same rules either way.

A run's two entries together never exceed its ceiling (what it held when it began): an entry
that would pass it is written capped, with a note, so no run can take a balance below the floor
whatever its runtime reports. (The run is stopped at its hold long before, at the egress relay
and by its spend watch; the cap is the last line.)

Compute money is exact: each entry is ``floor((ms * rate + carry) / RATE_DENOMINATOR)`` and the
remainder is carried on the session's meter to its next entry, so a session's compute and idle
entries add up to its exact cost, less a carry below one micro-credit.
"""

from __future__ import annotations

from dataclasses import replace

from computerouter.domain.session import RunRecord, RunState, SessionRecord
from computerouter.errors import Conflict, NotFound, SessionNotFound
from computerouter.ledger.metering import RunSpan, attribute, running_intervals, to_ms
from computerouter.ledger.prices import PriceTable
from computerouter.store.ledger_batch import LedgerOps
from computerouter.store.ledger_rows import (
    PLATFORM_COMPUTE,
    PLATFORM_TOKENS,
    EntryKind,
    LedgerEntry,
    MeterRow,
    NewEntry,
    user_account,
)

__all__ = ["bill_compute", "bill_tokens", "compute_key", "meter", "settle", "token_key"]


def token_key(run_id: str) -> str:
    return f"run:{run_id}:{EntryKind.TOKEN.value}"


def compute_key(run_id: str) -> str:
    return f"run:{run_id}:{EntryKind.COMPUTE.value}"


def meter(
    txn: LedgerOps,
    session: SessionRecord,
    prices: PriceTable,
    *,
    until_ms: int,
    now: float,
    locked: MeterRow | None = None,
) -> MeterRow:
    """Attribute the session's running time up to ``until_ms``; returns the meter after.

    ``locked``: the session's meter, when the caller already locked it in this transaction.
    """
    current = locked or txn.lock_meter(session.id, start_ms=to_ms(session.created_at))
    cursor = current.metered_to_ms
    if until_ms <= cursor:
        return current
    running = running_intervals(txn.transitions(session.id))
    records = txn.session_runs(session.id, after=(cursor - 1) / 1000, before=until_ms / 1000)
    spans = [
        RunSpan(
            run_id=r.run_id,
            start_ms=to_ms(r.started_at),
            end_ms=None if r.ended_at is None else to_ms(r.ended_at),
        )
        for r in records
    ]
    split = attribute(start_ms=cursor, end_ms=until_ms, running=running, runs=spans)
    for record in sorted(records, key=lambda r: r.run_id):  # one lock order for run rows
        busy = split.busy_ms.get(record.run_id, 0)
        if busy:
            txn.add_busy(record, busy, now=now)
    carry = current.carry
    if split.idle_ms:
        rate = prices.compute_price(session.provider, session.region).rate(session.resources)
        amount, carry = rate.charge(split.idle_ms, carry=carry)
        amount, note = _within_floor(txn, session.user_id, amount, prices.budget.floor)
        txn.post(
            NewEntry(
                key=f"idle:{session.id}:{cursor}",
                kind=EntryKind.IDLE,
                debit_account=user_account(session.user_id),
                credit_account=PLATFORM_COMPUTE,
                amount=amount,
                user_id=session.user_id,
                sandbox_id=session.sandbox_id,
                session_id=session.id,
                provider=session.provider,
                region=session.region,
                quantity_ms=split.idle_ms,
                rate_per_ms=rate.per_ms,
                at=until_ms / 1000,
                note=f"idle running time in [{cursor}, {until_ms}) ms{note}",
            )
        )
    after = MeterRow(
        session_id=session.id,
        metered_to_ms=until_ms,
        running_ms=current.running_ms + split.running_ms,
        idle_ms=current.idle_ms + split.idle_ms,
        carry=carry,
    )
    txn.save_meter(after)
    return after


def _within_floor(txn: LedgerOps, user_id: str, amount: int, floor: int) -> tuple[int, str]:
    """An idle charge (no run holds credit for it) is capped at what the user has above the
    floor, so idle time never takes a balance below it either; the rest is not charged."""
    account = txn.account(user_account(user_id), lock=True)
    room = 0 if account is None else max(0, account.available - floor)
    if amount <= room:
        return amount, ""
    return room, f"; capped at the credit above the floor: {amount} micro-credits were due"


def _ended(txn: LedgerOps, run_id: str) -> RunRecord:
    run = txn.run(run_id)
    if run is None:
        raise NotFound(f"no run with id {run_id!r}")
    if run.state not in RunState.ENDED or run.ended_at is None:
        raise Conflict(f"run {run_id} is still {run.state}; it is billed when it ends")
    return run


def _capped(txn: LedgerOps, run_id: str, amount: int, other: EntryKind) -> tuple[int, str]:
    """``amount``, or what is left of the run's ceiling after its ``other`` entry; and a note."""
    run = txn.ledger_run(run_id, lock=True)
    if run is None or run.ceiling is None:
        return amount, ""
    written = txn.run_entry(run_id, other)
    room = max(0, run.ceiling - (0 if written is None else written.amount))
    if amount <= room:
        return amount, ""
    return room, f"capped at the run's credit hold: {amount} micro-credits were due"


def bill_tokens(txn: LedgerOps, run_id: str, prices: PriceTable, *, now: float) -> LedgerEntry:
    """The run's token entry: its reported usage * each model's price (0 if none reported)."""
    existing = txn.run_entry(run_id, EntryKind.TOKEN)
    if existing is not None:
        return existing
    run = _ended(txn, run_id)
    txn.add_busy(run, 0, now=now)  # lock the run's row: usage reports queue behind this
    usage = txn.usage(run_id)
    amount = input_tokens = output_tokens = 0
    for row in usage:
        price = prices.model_price(row.model)
        amount += price.cost(input_tokens=row.input_tokens, output_tokens=row.output_tokens)
        input_tokens += row.input_tokens
        output_tokens += row.output_tokens
    single = prices.model_price(usage[0].model) if len(usage) == 1 else None
    assert run.ended_at is not None
    amount, note = _capped(txn, run_id, amount, EntryKind.COMPUTE)
    posted = txn.post(
        NewEntry(
            key=token_key(run_id),
            kind=EntryKind.TOKEN,
            debit_account=user_account(run.user_id),
            credit_account=PLATFORM_TOKENS,
            amount=amount,
            user_id=run.user_id,
            sandbox_id=run.sandbox_id,
            agent_id=run.agent_id,
            run_id=run_id,
            session_id=run.session_id,
            model=",".join(row.model for row in usage),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            input_per_mtok=0 if single is None else single.input_per_mtok,
            output_per_mtok=0 if single is None else single.output_per_mtok,
            at=run.ended_at,
            note=note,
        )
    )
    if posted is None:  # written by a concurrent replay between our check and our insert
        found = txn.run_entry(run_id, EntryKind.TOKEN)
        assert found is not None
        return found
    txn.consume_hold(run_id, posted.amount, account_id=posted.debit_account)
    return posted


def bill_compute(
    txn: LedgerOps, run_id: str, session: SessionRecord, prices: PriceTable, *, now: float
) -> LedgerEntry:
    """The run's compute entry: its busy running time * the session's price; frees its hold."""
    existing = txn.run_entry(run_id, EntryKind.COMPUTE)
    if existing is not None:
        return existing
    run = _ended(txn, run_id)
    assert run.ended_at is not None
    assert run.session_id == session.id
    # Lock order: meter, then run rows, then accounts (see computerouter.store.ledger).
    locked = txn.lock_meter(session.id, start_ms=to_ms(session.created_at))
    txn.add_busy(run, 0, now=now)
    after = meter(txn, session, prices, until_ms=to_ms(run.ended_at), now=now, locked=locked)
    ledger_run = txn.ledger_run(run_id, lock=True)
    assert ledger_run is not None
    rate = prices.compute_price(session.provider, session.region).rate(session.resources)
    amount, carry = rate.charge(ledger_run.busy_ms, carry=after.carry)
    amount, note = _capped(txn, run_id, amount, EntryKind.TOKEN)
    posted = txn.post(
        NewEntry(
            key=compute_key(run_id),
            kind=EntryKind.COMPUTE,
            debit_account=user_account(run.user_id),
            credit_account=PLATFORM_COMPUTE,
            amount=amount,
            user_id=run.user_id,
            sandbox_id=run.sandbox_id,
            agent_id=run.agent_id,
            run_id=run_id,
            session_id=session.id,
            provider=session.provider,
            region=session.region,
            quantity_ms=ledger_run.busy_ms,
            rate_per_ms=rate.per_ms,
            cpu_ms=ledger_run.cpu_ms,
            at=run.ended_at,
            note=note,
        )
    )
    if posted is None:
        found = txn.run_entry(run_id, EntryKind.COMPUTE)
        assert found is not None
        return found
    txn.save_meter(replace(after, carry=carry))
    txn.release(run_id, account_id=user_account(run.user_id))
    return posted


def settle(
    txn: LedgerOps,
    run_id: str,
    prices: PriceTable,
    *,
    cpu_seconds: float | None,
    now: float,
) -> tuple[LedgerEntry, LedgerEntry]:
    """The ended run's CPU note, token entry and compute entry (freeing its hold); each entry
    written only if missing. Raises before changing anything if the run cannot be billed."""
    run = txn.run(run_id)
    if run is None:
        raise NotFound(f"no run with id {run_id!r}")
    session = txn.session(run.session_id)
    if session is None:
        raise SessionNotFound(run.session_id)
    # The lock order of every ledger writer (meter, run rows, accounts), kept across both
    # entries: the session's meter first, though only the compute entry needs it.
    txn.lock_meter(session.id, start_ms=to_ms(session.created_at))
    if txn.run_entry(run_id, EntryKind.COMPUTE) is None:
        _ended(txn, run_id)
        if cpu_seconds is not None:
            txn.note_cpu(run, max(0, round(cpu_seconds * 1000)), now=now)
    token = bill_tokens(txn, run_id, prices, now=now)
    compute = bill_compute(txn, run_id, session, prices, now=now)
    return token, compute
