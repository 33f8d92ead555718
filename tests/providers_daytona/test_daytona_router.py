"""The compute router on daytona (emulated): sessions through ensure_session, and a sandbox
that vanishes behind the router's back is found by the reconciler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from computerouter.compute.factory import open_router
from computerouter.compute.reconciler import reconcile
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.emulators.daytona import EmulatorServer
from computerouter.runtimes.transport import client_for

pytestmark = pytest.mark.isolation


@pytest.fixture
def router(emulator: EmulatorServer, tmp_path: Path) -> Iterator[ComputeRouter]:
    env = {
        "COMPUTEROUTER_DAYTONA_API_URL": emulator.api_url,
        "COMPUTEROUTER_DAYTONA_API_KEY": "emulator-key",
    }
    made = open_router(
        Settings.load(env=env, home=tmp_path / "home", lifecycle_daemon=False, billing=False)
    )
    try:
        yield made
    finally:
        for session in made.store.sessions.list():
            if session.state not in (SessionState.DESTROYED, SessionState.FAILED):
                made.destroy(session.id)
        made.store.close()


def test_a_session_on_daytona_serves_suspends_and_resumes(router: ComputeRouter) -> None:
    key = SessionKey(user_id="alice", sandbox_id="box")
    session = router.ensure_session(key, provider="daytona", runtime="echo", region="eu")
    assert session.provider == "daytona"
    assert session.endpoint is not None
    with client_for(session.endpoint) as client:
        assert client.get("/health").status_code == 200

    router.suspend(session.id)
    again = router.ensure_session(key)

    assert again.id == session.id
    assert again.state is SessionState.RUNNING
    assert again.endpoint is not None
    with client_for(again.endpoint) as client:
        assert client.get("/health").status_code == 200


def test_the_reconciler_marks_a_vanished_sandbox_failed(
    router: ComputeRouter, emulator: EmulatorServer
) -> None:
    key = SessionKey(user_id="alice", sandbox_id="gone")
    session = router.ensure_session(key, provider="daytona", runtime="echo")
    assert session.instance_id is not None
    vanish = f"{emulator.base_url}/admin/sandboxes/{session.instance_id}/vanish"
    httpx.post(vanish).raise_for_status()

    report = reconcile(router)

    assert session.id in report.failed
    assert router.get(session.id).state is SessionState.FAILED


def test_a_run_in_flight_counts_as_activity_on_daytona(
    router: ComputeRouter, emulator: EmulatorServer
) -> None:
    """Daytona's idle timers see only API calls: a run refreshes the sandbox's activity when it
    begins and at every heartbeat, so the vendor never stops a sandbox under a turn."""
    key = SessionKey(user_id="alice", sandbox_id="busy")
    session = router.ensure_session(key, provider="daytona", runtime="echo")
    sandbox = emulator.emulator.sandboxes.get(session.instance_id or "")
    sandbox.last_activity_at = "2000-01-01T00:00:00Z"
    with router.open_run(key, run_id="run_busy", provider="daytona", runtime="echo"):
        began = sandbox.last_activity_at
        assert began > "2000-01-01T00:00:00Z"
        sandbox.last_activity_at = "2000-01-01T00:00:00Z"
        router.keepalive.beat()  # what the keepalive thread does every run_heartbeat_s
        assert sandbox.last_activity_at > "2000-01-01T00:00:00Z"
    sandbox.last_activity_at = "2000-01-01T00:00:00Z"
    router.keepalive.beat()  # the run has ended: nothing refreshes it any more
    assert sandbox.last_activity_at == "2000-01-01T00:00:00Z"
