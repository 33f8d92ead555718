"""Several control planes over one PostgreSQL database may run the lifecycle pass at once: each
idle session is suspended exactly once, and no pass reports an error for losing a race."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from computerouter.compute.lifecycle import LifecycleReport, lifecycle_pass
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.store import open_store
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime

pytestmark = pytest.mark.postgres

SESSIONS = 12
PASSES_PER_PLANE = 3


def test_concurrent_passes_from_two_control_planes_suspend_each_session_once(
    pg_url: str, tmp_path: Path
) -> None:
    clock = FakeClock()
    provider = FakeProvider()  # the one provider both control planes drive
    planes = []
    for name in ("east", "west"):
        settings = Settings.load(
            env={},
            home=tmp_path / name,
            database_url=pg_url,
            default_provider="fake",
            default_runtime="fake",
        )
        planes.append(
            ComputeRouter(
                store=open_store(pg_url),
                providers={"fake": provider},
                runtimes={"fake": FakeRuntime()},
                settings=settings,
                clock=clock,
                owner=f"{name}-host:1:1",  # another host each: trusted while its lease lasts
            )
        )
    try:
        sessions = [
            planes[i % 2].ensure_session(SessionKey(user_id=f"u{i}", sandbox_id="sb"))
            for i in range(SESSIONS)
        ]
        clock.advance(16 * 60)
        start = threading.Barrier(2 * len(planes))
        reports: list[LifecycleReport] = []
        failures: list[BaseException] = []

        def plane(router: ComputeRouter) -> None:
            start.wait()
            try:
                for _ in range(PASSES_PER_PLANE):
                    reports.append(lifecycle_pass(router))
            except BaseException as exc:  # surfaced below, with the thread's error
                failures.append(exc)

        threads = [threading.Thread(target=plane, args=(r,)) for r in planes for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)

        assert failures == []
        assert [e for r in reports for e in r.errors] == []
        suspended = [s for r in reports for s in r.reaped.suspended]
        assert sorted(suspended) == sorted(s.id for s in sessions)  # each once, by someone
        store = planes[0].store
        for session in sessions:
            assert store.sessions.require(session.id).state is SessionState.SUSPENDED
            states = [row.to_state for row in store.sessions.history(session.id)]
            assert states.count(SessionState.SUSPENDED) == 1, states
        suspends = [call for call in provider.calls if call[0] == "suspend"]
        assert len(suspends) == SESSIONS
    finally:
        for router in planes:
            router.store.close()
