"""The credit ledger: accounts, holds, a run's two entries, and what the run path calls.

The run path (``ComputeRouter.open_run`` with this ledger as its ``credit_gate``)::

    ledger.reserve(user_id=..., sandbox_id=..., agent_id=..., run_id=...)  # before any session
    ...                                                                     # the run
    ledger.record_usage(run_id, model=..., input_tokens=..., output_tokens=...)  # from the runtime
    ...                                                                     # the run ends
    ledger.settle(run_id, cpu_seconds=...)     # token entry, compute entry, hold freed

and, if the process dies anywhere in between, :func:`computerouter.ledger.repair.repair` finds
what is missing and writes it (``computerouter compute reap`` is where it belongs).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from computerouter.domain.clock import Clock, SystemClock
from computerouter.domain.ids import is_valid_key_part
from computerouter.domain.session import RunState, SessionRecord
from computerouter.errors import (
    ComputeRouterError,
    Conflict,
    InputError,
    InsufficientCredit,
    NotFound,
)
from computerouter.faults import failpoint
from computerouter.ledger import billing
from computerouter.ledger.metering import to_ms
from computerouter.ledger.prices import PriceTable
from computerouter.store import Store
from computerouter.store.ledger import LedgerStore
from computerouter.store.ledger_batch import SettleBatch, StaleBatch
from computerouter.store.ledger_rows import (
    PLATFORM_GRANTS,
    AccountBalance,
    EntryKind,
    HoldState,
    LedgerEntry,
    LedgerRun,
    MeterRow,
    NewEntry,
    UsageRow,
    user_account,
)

if TYPE_CHECKING:
    from computerouter.ledger.batcher import SettleBatcher

__all__ = ["FAILPOINT_AFTER_COMMIT", "FAILPOINT_BEFORE_COMMIT", "Ledger", "RunBill"]

log = logging.getLogger(__name__)

FAILPOINT_BEFORE_COMMIT = "ledger.settle.before_commit"
"""A settle's (or a batch's) rows are written, its transaction not committed yet."""
FAILPOINT_AFTER_COMMIT = "ledger.settle.after_commit"
"""Committed; no caller has its bill yet."""


def _meter_start(session: SessionRecord) -> int:
    return to_ms(session.created_at)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunBill:
    """A run's two entries, joined on ``run_id`` (``None`` where one is not written yet)."""

    run_id: str
    token: LedgerEntry | None
    compute: LedgerEntry | None

    @property
    def total(self) -> int:
        return sum(e.amount for e in (self.token, self.compute) if e is not None)


class Ledger:
    """Credit accounts and run billing over the store. Also a ``CreditGate`` for the router.

    ``after_entry`` is a fault-injection seam for tests (called after each billing step of
    :meth:`settle_run`, with its entry); production passes nothing.

    ``owner`` is recorded on each hold (the process holding it, ``host:pid:start``) and
    ``owner_alive`` tells whether such a process still lives, so the repair pass can give back
    the hold of a run whose process died before it began; without them only age tells.
    """

    def __init__(
        self,
        *,
        store: Store,
        prices: PriceTable,
        clock: Clock | None = None,
        after_entry: Callable[[LedgerEntry], None] | None = None,
        owner: str | None = None,
        owner_alive: Callable[[str], bool] | None = None,
    ) -> None:
        self.store = store
        self.prices = prices
        self.clock = clock or SystemClock()
        self.ledger_store = LedgerStore(store.engine)
        self._after_entry = after_entry
        self.owner = owner
        self._owner_alive = owner_alive
        self._batcher: SettleBatcher | None = None

    def owner_alive(self, owner: str | None) -> bool | None:
        """``True``/``False`` when it can be told whether ``owner`` lives; ``None`` when not."""
        if self._owner_alive is None or not owner:
            return None
        return self._owner_alive(owner)

    # -- accounts -----------------------------------------------------------------------------

    def grant(self, user_id: str, amount: int, *, key: str = "", note: str = "") -> LedgerEntry:
        """Credit ``amount`` micro-credits to the user. Idempotent on ``key`` when given."""
        if not is_valid_key_part(user_id):
            raise InputError(
                f"user_id {user_id!r} is not valid: use 1-128 of letters, digits, '.', '_', '-'"
            )
        if amount <= 0:
            raise InputError("a grant must be more than zero")
        entry = NewEntry(
            key=f"grant:{key or uuid.uuid4().hex}",
            kind=EntryKind.GRANT,
            debit_account=PLATFORM_GRANTS,
            credit_account=user_account(user_id),
            amount=amount,
            user_id=user_id,
            at=self.clock.now(),
            note=note,
        )
        with self.ledger_store.transaction() as txn:
            posted = txn.post(entry)
            if posted is None:  # the same grant, replayed
                found = txn.entry(entry.key)
                assert found is not None
                return found
        return posted

    def account(self, user_id: str) -> AccountBalance:
        found = self.ledger_store.account(user_account(user_id))
        if found is None:
            return AccountBalance(
                account_id=user_account(user_id), user_id=user_id, balance=0, reserved=0
            )
        return found

    # -- the credit gate ----------------------------------------------------------------------

    def reserve(self, *, user_id: str, sandbox_id: str, agent_id: str, run_id: str) -> None:
        """Hold the run's budget (``min(available - floor, run_max)``, at least
        ``run_reserve``), or raise :class:`InsufficientCredit`.

        Atomic against concurrent runs of the same user; a retry for the same ``run_id`` holds
        nothing more.
        """
        budget = self.prices.budget
        now = self.clock.now()
        run = LedgerRun(
            run_id=run_id,
            user_id=user_id,
            sandbox_id=sandbox_id,
            agent_id=agent_id,
            session_id=None,
            hold=budget.run_max,
            hold_state=HoldState.HELD,
            busy_ms=0,
            cpu_ms=None,
            created_at=now,
            owner=self.owner,
        )
        account_id = user_account(user_id)
        with self.ledger_store.transaction() as txn:
            held = txn.hold(
                run,
                account_id=account_id,
                floor=budget.floor,
                minimum=budget.run_reserve,
                now=now,
            )
        if held is False:
            current = self.account(user_id)
            raise InsufficientCredit(
                user_id=user_id,
                available=current.available,
                required=budget.run_reserve + budget.floor,
            )

    def ceiling(self, run_id: str) -> int | None:
        """What the run held when it began, the most it can cost (``None``: no hold)."""
        with self.ledger_store.reading() as txn:
            run = txn.ledger_run(run_id)
        return None if run is None else run.ceiling

    def release(self, run_id: str) -> None:
        """Give back a run's hold when the run never began (its session could not be had)."""
        with self.ledger_store.transaction() as txn:
            run = txn.ledger_run(run_id, lock=True)
            if run is not None:
                txn.release(run_id, account_id=user_account(run.user_id))

    def group_settles(self) -> None:
        """From now on, :meth:`settle` goes through one :class:`SettleBatcher`: runs ending at
        once (a server's) are settled together, one transaction per batch (group commit).
        :meth:`close` settles what is queued and stops its writer."""
        from computerouter.ledger.batcher import SettleBatcher

        if self._batcher is None:
            self._batcher = SettleBatcher(self)

    def close(self) -> None:
        """Stop grouping settles (what is queued is settled first); the ledger stays usable."""
        batcher, self._batcher = self._batcher, None
        if batcher is not None:
            batcher.close()

    def settle(self, run_id: str, *, cpu_seconds: float | None = None) -> None:
        """End of run, for the router: :meth:`settle_run` (through the batch writer after
        :meth:`group_settles`), but a failure is logged, not raised (the run itself succeeded;
        the repair pass writes whatever is missing)."""
        batcher = self._batcher
        if batcher is not None:
            batcher.settle(run_id, cpu_seconds=cpu_seconds)
            return
        try:
            self.settle_run(run_id, cpu_seconds=cpu_seconds)
        except ComputeRouterError as exc:
            log.warning("run %s not billed yet (the repair pass will): %s", run_id, exc)

    # -- a run's usage and its two entries ----------------------------------------------------

    def record_usage(
        self, run_id: str, *, model: str, input_tokens: int, output_tokens: int
    ) -> None:
        """The run's token usage so far for ``model``, as the runtime reports it.

        Totals, not increments: a later report for the same model replaces the earlier one, so
        a replayed report changes nothing. Refused once the run's token entry is written.
        """
        if input_tokens < 0 or output_tokens < 0:
            raise InputError("token counts cannot be negative")
        with self.ledger_store.transaction() as txn:
            run = txn.run(run_id)
            if run is None:
                raise NotFound(f"no run with id {run_id!r}")
            txn.add_busy(run, 0, now=self.clock.now())  # locks the run's row against billing
            if txn.run_entry(run_id, EntryKind.TOKEN) is not None:
                raise Conflict(f"run {run_id} is already billed; its usage is final")
            txn.set_usage(
                UsageRow(
                    run_id=run_id,
                    model=model,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                )
            )

    def settle_run(self, run_id: str, *, cpu_seconds: float | None = None) -> RunBill:
        """Write the ended run's token entry, then its compute entry (freeing its hold).

        One transaction for the whole settle (the CPU note, both entries, the hold freed), so
        a settle costs one commit, and a few statements (see :meth:`settle_many`); each entry
        stays idempotent on ``(run_id, kind)``: calling this again, or after a crash, writes
        only what is missing. With the ``after_entry`` seam, each step commits on its own, so
        a fault between the two writes can be shown.
        """
        if self._after_entry is not None:
            return self._settle_stepwise(run_id, cpu_seconds=cpu_seconds)
        outcome = self.settle_many([(run_id, cpu_seconds)])[0]
        if isinstance(outcome, ComputeRouterError):
            raise outcome
        return outcome

    def settle_many(
        self, items: Sequence[tuple[str, float | None]]
    ) -> list[RunBill | ComputeRouterError]:
        """Settle ``(run_id, cpu_seconds)`` items in one transaction: each outcome in order,
        the run's bill or why it cannot be billed (that run changes nothing; the others
        are billed all the same).

        The rows are read once for all the items, with one statement per table, the billing
        runs in memory, and each table is written with one statement (see
        :mod:`computerouter.store.ledger_batch`). Should an entry turn out to be written
        already by a writer outside the batch's locks, the transaction is rolled back and each
        item settled again on its own, statement by statement. A failure of the transaction
        itself (the database) is raised, and nothing of the batch is written.
        """
        try:
            return self._settle_batch(items)
        except StaleBatch:
            log.info(
                "settle batch of %d met an entry already written; settling one by one", len(items)
            )
            return [self._settle_statements(run_id, cpu) for run_id, cpu in items]

    def _settle_batch(
        self, items: Sequence[tuple[str, float | None]]
    ) -> list[RunBill | ComputeRouterError]:
        now = self.clock.now()
        settled: list[tuple[str, LedgerEntry, LedgerEntry] | ComputeRouterError] = []
        with self.ledger_store.transaction() as txn:
            batch = SettleBatch(txn)
            batch.load([run_id for run_id, _ in items], now=now, meter_start=_meter_start)
            for run_id, cpu_seconds in items:
                mark = batch.mark()
                try:
                    token, compute = billing.settle(
                        batch, run_id, self.prices, cpu_seconds=cpu_seconds, now=now
                    )
                except ComputeRouterError as exc:
                    batch.undo(mark)
                    settled.append(exc)
                    continue
                settled.append((run_id, token, compute))
            written = batch.flush(now=now)
            failpoint(FAILPOINT_BEFORE_COMMIT)
        failpoint(FAILPOINT_AFTER_COMMIT)
        return [
            one
            if isinstance(one, ComputeRouterError)
            else RunBill(
                run_id=one[0],
                token=written.get(one[1].key, one[1]),
                compute=written.get(one[2].key, one[2]),
            )
            for one in settled
        ]

    def _settle_statements(
        self, run_id: str, cpu_seconds: float | None
    ) -> RunBill | ComputeRouterError:
        """One run's settle, statement by statement in its own transaction."""
        now = self.clock.now()
        try:
            with self.ledger_store.transaction() as txn:
                token, compute = billing.settle(
                    txn, run_id, self.prices, cpu_seconds=cpu_seconds, now=now
                )
        except ComputeRouterError as exc:
            return exc
        return RunBill(run_id=run_id, token=token, compute=compute)

    def _settle_stepwise(self, run_id: str, *, cpu_seconds: float | None) -> RunBill:
        assert self._after_entry is not None
        if cpu_seconds is not None:
            self._note_cpu(run_id, cpu_seconds)
        token = self.bill_tokens(run_id)
        self._after_entry(token)
        compute = self.bill_compute(run_id)
        self._after_entry(compute)
        return RunBill(run_id=run_id, token=token, compute=compute)

    def bill_tokens(self, run_id: str) -> LedgerEntry:
        with self.ledger_store.transaction() as txn:
            return billing.bill_tokens(txn, run_id, self.prices, now=self.clock.now())

    def bill_compute(self, run_id: str) -> LedgerEntry:
        run = self.store.runs.get(run_id)
        if run is None:
            raise NotFound(f"no run with id {run_id!r}")
        session = self.store.sessions.require(run.session_id)
        with self.ledger_store.transaction() as txn:
            return billing.bill_compute(txn, run_id, session, self.prices, now=self.clock.now())

    def meter_session(self, session_id: str, *, until: float | None = None) -> MeterRow:
        """Attribute the session's running time up to ``until`` (default: now)."""
        session = self.store.sessions.require(session_id)
        until_ms = to_ms(self.clock.now() if until is None else until)
        with self.ledger_store.transaction() as txn:
            return billing.meter(txn, session, self.prices, until_ms=until_ms, now=self.clock.now())

    def run_bill(self, run_id: str) -> RunBill:
        with self.ledger_store.reading() as txn:
            return RunBill(
                run_id=run_id,
                token=txn.run_entry(run_id, EntryKind.TOKEN),
                compute=txn.run_entry(run_id, EntryKind.COMPUTE),
            )

    def _note_cpu(self, run_id: str, cpu_seconds: float) -> None:
        run = self.store.runs.get(run_id)
        if run is None or run.state == RunState.RUNNING:
            return
        with self.ledger_store.transaction() as txn:
            if txn.run_entry(run_id, EntryKind.COMPUTE) is None:
                txn.note_cpu(run, max(0, round(cpu_seconds * 1000)), now=self.clock.now())
