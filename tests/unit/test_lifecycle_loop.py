"""The lifecycle runs by itself: a loop of lifecycle passes, driven here by a manual clock.

No manual command anywhere: the loop is started once and suspends, archives and stops on its
own schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack

import pytest

from computerouter.compute.lifecycle import lifecycle_pass, needs_lifecycle
from computerouter.compute.lifecycle_loop import LifecycleLoop, LoopExit, PassOutcome
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.instances import Instance
from computerouter.domain.session import SandboxSettings
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.errors import ConfigError
from computerouter.ledger import Ledger, default_prices
from computerouter.store import Store
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime

S = SessionState
KEY = SessionKey(user_id="alice", sandbox_id="sb")
MIN = 60.0
INTERVAL = 30.0


def _when(router: ComputeRouter, session_id: str, state: SessionState) -> float:
    [at] = [row.at for row in router.store.sessions.history(session_id) if row.to_state == state]
    return at


def test_a_loop_suspends_then_archives_on_schedule_and_ends_by_itself(
    router: ComputeRouter, clock: FakeClock
) -> None:
    router.store.sandboxes.put(
        SandboxSettings(
            user_id="alice", sandbox_id="sb", idle_suspend_s=5 * MIN, archive_after_s=60 * MIN
        )
    )
    session = router.ensure_session(KEY)
    idle_since = router.get(session.id).last_active_at
    seen: list[tuple[float, SessionState]] = []

    def watch(outcome: PassOutcome) -> None:
        seen.append((clock.now(), router.get(session.id).state))

    loop = LifecycleLoop(router=router, interval_s=INTERVAL, sleep=clock.advance, on_pass=watch)

    assert loop.run() is LoopExit.NOTHING_LIVE

    suspended_at = _when(router, session.id, S.SUSPENDED)
    archived_at = _when(router, session.id, S.ARCHIVED)
    # Each happened at the first pass after its window, never before it.
    assert 5 * MIN <= suspended_at - idle_since < 5 * MIN + INTERVAL
    assert 60 * MIN <= archived_at - idle_since < 60 * MIN + INTERVAL
    assert router.get(session.id).state is S.ARCHIVED
    assert {state for at, state in seen if at - idle_since < 5 * MIN} == {S.RUNNING}
    # It stopped at the pass that archived the last live session, not one interval later.
    assert seen[-1] == (clock.now(), S.ARCHIVED)
    assert loop.passes == len(seen)
    assert loop.last is not None
    assert loop.last.ok


def test_the_default_window_is_fifteen_minutes_and_a_run_in_flight_keeps_it_awake(
    router: ComputeRouter, clock: FakeClock
) -> None:
    other = SessionKey(user_id="bob", sandbox_id="sb")
    with ExitStack() as stack:
        busy = stack.enter_context(router.open_run(KEY, run_id="run_long")).session
        idle = router.ensure_session(other)
        started = clock.now()

        def sleep(seconds: float) -> None:
            clock.advance(seconds)
            router.keepalive.beat()  # the run's owner is alive: it says so (on this clock)
            if clock.now() - started >= 40 * MIN:
                stack.close()  # the long run ends after 40 minutes
            if clock.now() - started >= 90 * MIN:
                loop.stop()

        loop = LifecycleLoop(router=router, interval_s=INTERVAL, sleep=sleep)
        assert loop.run() is LoopExit.STOPPED

    assert 15 * MIN <= _when(router, idle.id, S.SUSPENDED) - started < 15 * MIN + INTERVAL
    # Never suspended while the run was in flight; 15 idle minutes after it ended, it was.
    assert 55 * MIN <= _when(router, busy.id, S.SUSPENDED) - started < 55 * MIN + 2 * INTERVAL
    assert router.get(busy.id).state is S.SUSPENDED


def test_the_pass_repairs_the_ledger_when_billing_is_on(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    router = ComputeRouter(
        store=store,
        providers={"fake": FakeProvider()},
        runtimes={"fake": FakeRuntime()},
        settings=settings,
        clock=clock,
        credit_gate=ledger,
    )
    session = router.ensure_session(KEY)
    clock.advance(16 * MIN)

    report = lifecycle_pass(router)

    assert report.reaped.suspended == [session.id]
    # The idle tail before the suspend is metered in the same pass: the ledger is part of it.
    assert report.repaired.sessions_metered == [session.id]
    assert ("suspended (idle)", [session.id]) in report.outcomes()
    assert report.summary() == "suspended (idle) 1, sessions metered 1"
    assert report.changed


class _BrokenOnce(FakeProvider):
    """Its first ``list`` raises something no step expects (a bug, a library fault)."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    def list(self) -> Sequence[Instance]:
        if self.broken:
            self.broken = False
            raise RuntimeError("listing blew up")
        return super().list()


def test_a_pass_that_raises_is_recorded_and_the_loop_goes_on(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    router = ComputeRouter(
        store=store,
        providers={"fake": _BrokenOnce()},
        runtimes={"fake": FakeRuntime()},
        settings=settings,
        clock=clock,
    )
    session = router.ensure_session(KEY)
    outcomes: list[PassOutcome] = []

    def stop_when_suspended(outcome: PassOutcome) -> None:
        outcomes.append(outcome)
        if router.get(session.id).state is S.SUSPENDED:
            loop.stop()

    loop = LifecycleLoop(
        router=router, interval_s=20 * MIN, sleep=clock.advance, on_pass=stop_when_suspended
    )
    assert loop.run() is LoopExit.STOPPED
    assert not outcomes[0].ok
    assert outcomes[0].describe() == "failed: listing blew up"
    assert outcomes[-1].ok
    assert router.get(session.id).state is S.SUSPENDED


def test_the_loop_ends_when_what_it_serves_is_gone(router: ComputeRouter, clock: FakeClock) -> None:
    router.ensure_session(KEY)
    gone: list[bool] = [False]

    def sleep(seconds: float) -> None:
        clock.advance(seconds)
        gone[0] = True

    loop = LifecycleLoop(router=router, interval_s=INTERVAL, sleep=sleep, abandoned=lambda: gone[0])
    assert loop.run() is LoopExit.ABANDONED
    assert loop.passes == 1
    assert needs_lifecycle(router.store)


def test_with_nothing_live_the_loop_makes_one_pass_and_ends(router: ComputeRouter) -> None:
    loop = LifecycleLoop(router=router, interval_s=INTERVAL, sleep=lambda s: pytest.fail("slept"))
    assert loop.run() is LoopExit.NOTHING_LIVE
    assert loop.passes == 1


@pytest.mark.parametrize("interval", [0.0, -1.0])
def test_an_interval_must_be_positive(router: ComputeRouter, interval: float) -> None:
    with pytest.raises(ConfigError, match="lifecycle_interval_s must be more than zero"):
        LifecycleLoop(router=router, interval_s=interval)
