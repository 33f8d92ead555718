"""The run journal writes a run's events in order, in batches, and keeps what a failed write
did not store for the next one; the store keeps one event per position."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from computerouter.api.journal import RunJournal
from computerouter.domain.events import MessageDelta, RunCompleted
from computerouter.errors import StoreError
from computerouter.store import Store
from computerouter.store.run_events import JournalRow, RunEventStore


def _delta(seq: int) -> MessageDelta:
    return MessageDelta(
        run_id="run_1", agent_id="a", sandbox_id="s", user_id="u", at=1.0, seq=seq, delta=f"w{seq}"
    )


class FlakyStore(RunEventStore):
    def __init__(self, inner: RunEventStore) -> None:
        self.inner = inner
        self.fail = 1
        self.batches: list[int] = []

    def append(self, rows: Sequence[JournalRow]) -> None:
        if self.fail:
            self.fail -= 1
            raise StoreError("the database went away")
        self.batches.append(len(rows))
        self.inner.append(rows)


def test_events_survive_a_failed_write_in_order(store: Store) -> None:
    events = RunEventStore(store.engine)
    flaky = FlakyStore(events)
    journal = RunJournal(flaky, tick_s=3600)  # no ticks: flush by hand
    for position in range(1, 4):
        journal.record("run_1", position, _delta(position))
    journal.flush()  # fails: nothing lost
    assert events.after("run_1", 0) == []
    journal.record("run_1", 4, _delta(4))
    journal.flush()
    rows = events.after("run_1", 0)
    assert [r.position for r in rows] == [1, 2, 3, 4]
    assert flaky.batches == [4]
    assert json.loads(rows[0].body)["delta"] == "w1"
    assert [r.position for r in events.after("run_1", 2)] == [3, 4]
    journal.close()


def test_a_retried_batch_is_not_written_twice(store: Store) -> None:
    events = RunEventStore(store.engine)
    row = JournalRow(run_id="run_2", position=1, type="message.delta", body="{}", at=1.0)
    events.append([row])
    events.append([row, JournalRow(run_id="run_2", position=2, type="x", body="{}", at=2.0)])
    assert [r.position for r in events.after("run_2", 0)] == [1, 2]


def test_the_end_of_a_run_is_written_without_waiting_for_a_tick(store: Store) -> None:
    events = RunEventStore(store.engine)
    journal = RunJournal(events, tick_s=3600)
    done = RunCompleted(
        run_id="run_3", agent_id="a", sandbox_id="s", user_id="u", at=1.0, seq=1, output="ok"
    )
    journal.record("run_3", 1, _delta_of("run_3"))
    journal.record("run_3", 2, done)
    deadline = time.monotonic() + 30  # without the wake-up, the next tick is an hour away
    while not events.after("run_3", 0) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r.type for r in events.after("run_3", 0)] == ["message.delta", "run.completed"]
    journal.close()


def _delta_of(run_id: str) -> MessageDelta:
    return MessageDelta(
        run_id=run_id, agent_id="a", sandbox_id="s", user_id="u", at=1.0, seq=1, delta="w"
    )
