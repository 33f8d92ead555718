"""The warm path: a running session is found with one read, and its activity is debounced
(at most one write per session per second) without ever being lost to an idle decision."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from computerouter.compute.reaper import reap_once
from computerouter.compute.router import ComputeRouter
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.store import Store, open_store
from computerouter.store.sessions import SessionStore
from computerouter.testing import FakeClock
from computerouter.testing.records import session_record

KEY = SessionKey(user_id="alice", sandbox_id="sb1")


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """Every SQL statement the store sends while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement.lstrip().split(None, 1)[0].upper())

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)


def test_warm_ensure_reads_once_and_writes_nothing_within_a_second(
    router: ComputeRouter, clock: FakeClock, store: Store
) -> None:
    router.ensure_session(KEY)
    clock.advance(0.1)
    router.ensure_session(KEY)  # the first activity of its window: written
    with statements(store) as sent:
        for _ in range(50):
            clock.advance(0.01)
            assert router.ensure_session(KEY).state is SessionState.RUNNING
    assert sent.count("SELECT") == 50
    assert [s for s in sent if s != "SELECT"] == []


def test_activity_is_written_at_most_once_per_second_per_session(
    router: ComputeRouter, clock: FakeClock, store: Store
) -> None:
    router.ensure_session(KEY)
    with statements(store) as sent:
        for _ in range(30):  # three seconds of calls, ten a second
            clock.advance(0.1)
            router.ensure_session(KEY)
    assert 1 <= sent.count("UPDATE") <= 3


def test_the_idle_decision_sees_activity_held_back(
    router: ComputeRouter, clock: FakeClock, settings: Any
) -> None:
    router.ensure_session(KEY)
    clock.advance(0.1)
    session = router.ensure_session(KEY)  # written: the first activity of its window
    clock.advance(0.5)  # inside the window: this activity is held back, not yet written
    router.ensure_session(KEY)
    last = clock.now()
    assert router.get(session.id).last_active_at < last
    # Idle past the window counted from the written activity, not from the last one.
    clock.advance(settings.idle_suspend_s - 0.25)
    assert reap_once(router).suspended == []
    assert router.get(session.id).state is SessionState.RUNNING
    assert router.get(session.id).last_active_at == last
    clock.advance(0.25)
    assert reap_once(router).suspended == [session.id]


def test_activity_held_back_is_written_on_close(
    router: ComputeRouter, clock: FakeClock, store: Store, settings: Any
) -> None:
    router.ensure_session(KEY)
    clock.advance(0.1)
    session = router.ensure_session(KEY)
    clock.advance(0.5)
    router.ensure_session(KEY)
    store.close()
    reopened = open_store(settings.effective_database_url)
    try:
        assert reopened.sessions.require(session.id).last_active_at == clock.now()
    finally:
        reopened.close()


def test_held_back_activity_reaches_the_store_by_itself(store: Store) -> None:
    """Another process sees only the store: what is held back is written when its window
    closes, with nothing else called here."""
    quick = SessionStore(store.engine, debounce_s=0.05)  # a short window: the test waits little
    session = _running(store)
    quick.record_activity(session, now=10.0)
    quick.record_activity(session, now=10.01)
    for _ in range(500):
        if store.sessions.require(session).last_active_at == 10.01:
            break
        time.sleep(0.01)
    assert store.sessions.require(session).last_active_at == 10.01
    assert quick.flush_activity() == 0


def test_a_runs_labels_are_written_at_once_with_its_row(
    router: ComputeRouter, clock: FakeClock
) -> None:
    session = router.ensure_session(KEY)
    for run_id in ("run_1", "run_2"):
        clock.advance(0.1)
        with router.open_run(KEY, run_id=run_id, agent_id="bot"):
            record = router.get(session.id)
            assert (record.agent_id, record.run_id) == ("bot", run_id)
            assert record.last_active_at == clock.now()


def test_activity_never_moves_back(store: Store) -> None:
    session = _running(store)
    store.sessions.record_activity(session, now=100.0)
    store.sessions.record_activity(session, now=100.5)  # held back
    store.sessions.record_activity(session, now=200.0)  # written
    store.sessions.flush_activity()  # the older, held-back one lands late
    assert store.sessions.require(session).last_active_at == 200.0


def _running(store: Store) -> str:
    record = session_record(at=1.0)
    assert store.sessions.insert_provisioning(record)
    return record.id


def test_a_process_that_exits_without_closing_writes_what_it_held_back(store: Store) -> None:
    session = _running(store)
    code = (
        "import sys\n"
        "from computerouter.store import open_store\n"
        "sessions = open_store(sys.argv[1]).sessions\n"
        "sessions.record_activity(sys.argv[2], now=50.0)\n"
        "sessions.record_activity(sys.argv[2], now=50.5)\n"  # held back; then exit, no close
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(store.engine.url), session],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert store.sessions.require(session).last_active_at == 50.5
