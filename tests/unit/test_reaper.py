from __future__ import annotations

from computerouter.compute.reaper import reap_once
from computerouter.compute.router import ComputeRouter
from computerouter.domain.session import SandboxSettings
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.testing import FakeClock

KEY = SessionKey(user_id="alice", sandbox_id="sb1")
MIN = 60.0
DAY = 86400.0
S = SessionState


def test_idle_fifteen_minutes_suspends(router: ComputeRouter, clock: FakeClock) -> None:
    session = router.ensure_session(KEY)
    clock.advance(14 * MIN)
    assert reap_once(router).suspended == []
    assert router.get(session.id).state is S.RUNNING
    clock.advance(1 * MIN)
    assert reap_once(router).suspended == [session.id]
    assert router.get(session.id).state is S.SUSPENDED


def test_idle_seven_days_archives(router: ComputeRouter, clock: FakeClock) -> None:
    session = router.ensure_session(KEY)
    clock.advance(20 * MIN)
    reap_once(router)
    clock.advance(7 * DAY - 20 * MIN - 1)
    assert reap_once(router).archived == []
    clock.advance(1)
    assert reap_once(router).archived == [session.id]
    assert router.get(session.id).state is S.ARCHIVED


def test_run_in_flight_is_never_suspended(router: ComputeRouter, clock: FakeClock) -> None:
    # For idleness, that is: within the session's maximum uptime (see test_ceilings.py).
    router.store.sandboxes.put(
        SandboxSettings(user_id="alice", sandbox_id="sb1", max_uptime_s=DAY * 30)
    )
    with router.open_run(KEY, run_id="run_long") as lease:
        session = lease.session
        clock.advance(8 * DAY)
        report = reap_once(router)
        assert session.id in report.busy
        assert report.suspended == []
        assert report.archived == []
        assert router.get(session.id).state is S.RUNNING
    # the idle clock restarts when the run ends
    clock.advance(14 * MIN)
    assert reap_once(router).suspended == []
    clock.advance(1 * MIN)
    assert reap_once(router).suspended == [session.id]


def test_per_sandbox_windows(router: ComputeRouter, clock: FakeClock) -> None:
    fast = SessionKey(user_id="alice", sandbox_id="fast")
    router.store.sandboxes.put(
        SandboxSettings(user_id="alice", sandbox_id="fast", idle_suspend_s=30, archive_after_s=3600)
    )
    quick = router.ensure_session(fast)
    normal = router.ensure_session(KEY)
    clock.advance(31)
    assert reap_once(router).suspended == [quick.id]
    assert router.get(normal.id).state is S.RUNNING
    clock.advance(3600)
    assert reap_once(router).archived == [quick.id]


def test_reaper_records_provider_errors_and_keeps_going(
    router: ComputeRouter, clock: FakeClock
) -> None:
    from computerouter.errors import ProviderError

    a = router.ensure_session(KEY)
    b = router.ensure_session(SessionKey(user_id="bob", sandbox_id="sb1"))
    provider = router.providers["fake"]
    assert hasattr(provider, "fail_next")
    provider.fail_next["suspend"] = ProviderError("freezer stuck", provider="fake")
    clock.advance(16 * MIN)
    report = reap_once(router)
    assert len(report.errors) == 1
    assert "freezer stuck" in report.errors[0]
    states = {router.get(a.id).state, router.get(b.id).state}
    assert states == {S.RUNNING, S.SUSPENDED}
