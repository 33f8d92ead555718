"""Run events through the store, so every replica can stream any run.

The server that runs a run writes its events to ``run_events`` as they come (:class:`RunJournal`:
one thread per server, a batch per tick, so a burst of message deltas costs one transaction).
Another server that is asked for the run's events follows that table (:func:`follow_journal`)
until the run's terminal event, or until the run has ended without one (its server died: the
reconciler ended it as abandoned).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from computerouter.domain.events import AgentEvent, RunCancelled, RunCompleted, RunFailed
from computerouter.domain.session import RunState
from computerouter.errors import ComputeRouterError
from computerouter.store.run_events import JournalRow, RunEventStore
from computerouter.store.runs import RunStore
from computerouter.wire.events import event_to_wire

__all__ = ["FOLLOW_POLL_S", "JOURNAL_TICK_S", "RunJournal", "follow_journal"]

log = logging.getLogger(__name__)

JOURNAL_TICK_S = 0.05
"""How long an event may wait to be written with the ones after it."""
FOLLOW_POLL_S = 0.1
"""How often a follower on another replica looks for new events."""
_TERMINAL_TYPES = frozenset(cls.type for cls in (RunCompleted, RunFailed, RunCancelled))
_GRACE_LOOKS = 10
"""Looks for the terminal event of a run that has ended (its server writes it a tick later)."""
_KEEP_UNWRITTEN = 100_000
"""Events kept for a retry while the store is down, at most (then the oldest are dropped)."""


class RunJournal:
    def __init__(self, store: RunEventStore, *, tick_s: float = JOURNAL_TICK_S) -> None:
        self._store = store
        self._tick_s = tick_s
        self._pending: list[JournalRow] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def record(self, run_id: str, position: int, event: AgentEvent) -> None:
        row = JournalRow(
            run_id=run_id,
            position=position,
            type=event.type,
            body=json.dumps(event_to_wire(event), separators=(",", ":")),
            at=event.at,
        )
        with self._lock:
            self._pending.append(row)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._loop, name="computerouter-run-journal", daemon=True
                )
                self._thread.start()
        if event.type in _TERMINAL_TYPES:
            self._wake.set()  # the end of a run is written at once

    def flush(self) -> None:
        """Write everything recorded so far (a failed write keeps the rows for the next)."""
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                self._store.append(batch)
            except ComputeRouterError as exc:
                log.warning("run events not written yet (%s); retrying", exc.message)
                with self._lock:
                    self._pending = (batch + self._pending)[-_KEEP_UNWRITTEN:]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(5.0)
        self.flush()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._tick_s)
            self._wake.clear()
            self.flush()
            with self._lock:
                if self._closed:
                    return


async def follow_journal(
    events: RunEventStore, runs: RunStore, run_id: str, after: int = 0
) -> AsyncIterator[tuple[int, str, str]]:
    """``(position, type, body)`` of the run's events after ``after``, as its own server
    writes them, until its terminal event (or the run ended without one)."""
    position = max(0, after)
    while True:
        rows = await run_in_threadpool(events.after, run_id, position)
        for row in rows:
            position = row.position
            yield row.position, row.type, row.body
            if row.type in _TERMINAL_TYPES:
                return
        if rows:
            continue
        record = await run_in_threadpool(runs.get, run_id)
        if record is None or record.state != RunState.RUNNING:
            # Ended: its server writes the terminal event a tick after; wait that long for it.
            for _ in range(_GRACE_LOOKS):
                await asyncio.sleep(FOLLOW_POLL_S)
                for row in await run_in_threadpool(events.after, run_id, position):
                    position = row.position
                    yield row.position, row.type, row.body
                    if row.type in _TERMINAL_TYPES:
                        return
            return
        await asyncio.sleep(FOLLOW_POLL_S)
