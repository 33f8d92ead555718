"""What a run on a running session writes, pinned, so the hot path cannot silently grow.

A run on a warm session commits three transactions in the compute layer: its permit; its run
row with the session labelled by it (``SessionStore.begin_run``); and its end (the run ended,
its permit given back and the session's idle clock restarted together, ``RunStore.finish``).
It was five: the labels, the row, the end, the permit's return and the clock each alone.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from computerouter.compute.router import ComputeRouter
from computerouter.domain.session import RunState
from computerouter.domain.values import SessionKey
from computerouter.testing import FakeClock

KEY = SessionKey(user_id="alice", sandbox_id="sb")
WARM_RUN_COMMITS = 3


class Commits:
    def __init__(self, router: ComputeRouter) -> None:
        self.engine = router.store.engine
        self.count = 0

    def _seen(self, _conn: Any) -> None:
        self.count += 1

    def __enter__(self) -> Commits:
        sa.event.listen(self.engine, "commit", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        sa.event.remove(self.engine, "commit", self._seen)


def test_a_warm_run_commits_a_fixed_number_of_transactions(
    router: ComputeRouter, clock: FakeClock
) -> None:
    session = router.ensure_session(KEY)
    clock.advance(5)
    with Commits(router) as commits, router.open_run(KEY, run_id="run_1") as lease:
        assert lease.session.id == session.id
        clock.advance(2)
    assert commits.count == WARM_RUN_COMMITS


def test_the_end_of_a_run_is_one_transaction(router: ComputeRouter, clock: FakeClock) -> None:
    session = router.ensure_session(KEY)
    lease = router.open_run(KEY, run_id="run_1")
    lease.__enter__()
    clock.advance(3)
    assert [p[0] for p in router.gates.store.permits()] == ["run_1"]
    with Commits(router) as commits:
        lease.__exit__(None, None, None)
    assert commits.count == 1
    ended = router.store.runs.get("run_1")
    assert ended is not None
    assert ended.state == RunState.COMPLETED
    assert ended.ended_at == clock.now()
    assert router.gates.store.permits() == []  # the permit went back with it
    after = router.store.sessions.require(session.id)
    assert after.last_active_at == clock.now()  # the idle clock restarts at the run's end


def test_finish_is_one_commit_and_ending_twice_is_harmless(
    router: ComputeRouter, clock: FakeClock
) -> None:
    session = router.ensure_session(KEY)
    lease = router.open_run(KEY, run_id="run_2")
    lease.__enter__()
    try:
        with Commits(router) as commits:
            assert router.store.runs.finish(
                "run_2", state=RunState.FAILED, now=clock.now(), session_id=session.id
            )
        assert commits.count == 1
        assert not router.store.runs.finish(
            "run_2", state=RunState.FAILED, now=clock.now(), session_id=session.id
        )
    finally:
        lease.__exit__(None, None, None)
    ended = router.store.runs.get("run_2")
    assert ended is not None
    assert ended.state == RunState.FAILED
