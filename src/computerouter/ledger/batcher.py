"""Group commit for settles: many threads end runs at once, one writer settles them together.

Each caller of :meth:`SettleBatcher.settle_run` (or :meth:`~SettleBatcher.submit`) queues its
run and waits for its own outcome. One writer thread takes whatever is queued (up to
``max_batch``) and settles it with :meth:`Ledger.settle_many`: one transaction, one commit and
the same few statements for the whole batch, however many runs are in it (while it writes,
the next batch queues). Each caller gets its own bill, or its own run's error; a run that
cannot be billed changes nothing and fails no other. If the batch's transaction itself fails,
it is rolled back whole and its runs are settled again one by one, each in its own
transaction, so one bad run never fails the others.

Nothing is lost or billed twice if the process dies: a batch is one transaction, so it is
either written whole or not at all, and every entry stays idempotent on ``(run_id, kind)``;
the repair pass (:mod:`computerouter.ledger.repair`) bills whatever ended runs are left.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import TracebackType

from computerouter.errors import ComputeRouterError, Conflict
from computerouter.ledger.ledger import Ledger, RunBill

__all__ = ["SettleBatcher"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Item:
    run_id: str
    cpu_seconds: float | None
    outcome: Future[RunBill] = field(default_factory=Future)


class SettleBatcher:
    """Settles queued runs in batches on one writer thread; :meth:`close` when done."""

    def __init__(self, ledger: Ledger, *, max_batch: int = 256) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.ledger = ledger
        self.max_batch = max_batch
        self._queue: deque[_Item] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self.batches = 0
        """How many batches were written (for tests and benchmarks)."""
        self._writer = threading.Thread(target=self._write, name="ledger-settle", daemon=True)
        self._writer.start()

    # -- callers ------------------------------------------------------------------------------

    def submit(self, run_id: str, *, cpu_seconds: float | None = None) -> Future[RunBill]:
        return self.submit_many([(run_id, cpu_seconds)])[0]

    def submit_many(self, items: Sequence[tuple[str, float | None]]) -> list[Future[RunBill]]:
        """Queue the runs together (the writer sees all of them or none); their outcomes."""
        queued = [_Item(run_id=run_id, cpu_seconds=cpu) for run_id, cpu in items]
        with self._ready:
            if self._closed:
                raise Conflict("the settle batcher is closed")
            self._queue.extend(queued)
            self._ready.notify()
        return [item.outcome for item in queued]

    def settle_run(self, run_id: str, *, cpu_seconds: float | None = None) -> RunBill:
        """:meth:`Ledger.settle_run`, batched with whatever else is settling meanwhile."""
        return self.submit(run_id, cpu_seconds=cpu_seconds).result()

    def settle(self, run_id: str, *, cpu_seconds: float | None = None) -> None:
        """End of run, for the router: as :meth:`Ledger.settle`, a failure is logged."""
        try:
            self.settle_run(run_id, cpu_seconds=cpu_seconds)
        except ComputeRouterError as exc:
            log.warning("run %s not billed yet (the repair pass will): %s", run_id, exc)

    def close(self) -> None:
        """Settle what is queued, then stop the writer."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._writer.join()

    def __enter__(self) -> SettleBatcher:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the writer ---------------------------------------------------------------------------

    def _write(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return
                take = min(self.max_batch, len(self._queue))
                batch = [self._queue.popleft() for _ in range(take)]
            self._settle(batch)

    def _settle(self, batch: list[_Item]) -> None:
        try:
            outcomes = self.ledger.settle_many([(i.run_id, i.cpu_seconds) for i in batch])
        except Exception as exc:  # the batch's transaction failed: each run on its own
            if len(batch) > 1:
                log.warning(
                    "a settle batch of %d failed (%s); settling one by one", len(batch), exc
                )
            for item in batch:
                self._settle_alone(item, first=exc if len(batch) == 1 else None)
            return
        self.batches += 1
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, RunBill):
                item.outcome.set_result(outcome)
            else:
                item.outcome.set_exception(outcome)

    def _settle_alone(self, item: _Item, *, first: Exception | None) -> None:
        if first is not None:  # it was alone already: its own failure, not a neighbour's
            item.outcome.set_exception(first)
            return
        try:
            outcome = self.ledger.settle_many([(item.run_id, item.cpu_seconds)])[0]
        except Exception as exc:
            item.outcome.set_exception(exc)
            return
        self.batches += 1
        if isinstance(outcome, RunBill):
            item.outcome.set_result(outcome)
        else:
            item.outcome.set_exception(outcome)
