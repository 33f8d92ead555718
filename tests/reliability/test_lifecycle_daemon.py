"""Real time, real sessions: a session the CLI leaves live suspends, then archives, with no
manual command, and the daemon that did it exits by itself afterwards.

The session is a real ``local`` one (bubblewrap, cgroups) running the ``echo`` runtime; the
windows are a couple of seconds and the daemon passes every 0.3 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from computerouter.compute.daemon import daemon_status
from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.states import SessionState
from computerouter.providers.local import LocalProvider, probe
from computerouter.store import open_store
from computerouter.testing.daemons import daemon_pids, stop_daemons
from computerouter.testing.environment import child_env

pytestmark = pytest.mark.isolation

S = SessionState
IDLE_SUSPEND_S = 1.5
ARCHIVE_AFTER_S = 4.0
CLI = [sys.executable, "-m", "computerouter"]


@pytest.fixture(autouse=True)
def _needs_isolation() -> None:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"real local sessions need root, bubblewrap and cgroups: {', '.join(gaps)}")


def _env(home: Path) -> dict[str, str]:
    env = child_env()
    env |= {
        "COMPUTEROUTER_HOME": str(home),
        "COMPUTEROUTER_IDLE_SUSPEND_S": str(IDLE_SUSPEND_S),
        "COMPUTEROUTER_ARCHIVE_AFTER_S": str(ARCHIVE_AFTER_S),
        "COMPUTEROUTER_LIFECYCLE_INTERVAL_S": "0.3",
    }
    return env


def test_a_session_left_live_suspends_then_archives_and_the_daemon_leaves(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        ensure = subprocess.run(
            [*CLI, "compute", "sessions", "ensure", "--user", "u", "--sandbox", "s", "--json"],
            env=_env(home),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ensure.returncode == 0, ensure.stderr
        made = json.loads(ensure.stdout)
        assert made["state"] == "running"
        session_id = made["id"]

        store = open_store(f"sqlite:///{home / 'computerouter.db'}")
        seen: list[str] = []
        daemon_seen: set[int] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            record = store.sessions.require(session_id)
            if not seen or seen[-1] != record.state.value:
                seen.append(record.state.value)
            daemon_seen.update(daemon_pids(home))
            if record.state is S.ARCHIVED and not daemon_pids(home):
                break
            time.sleep(0.05)

        assert len(daemon_seen) == 1, "a daemon was started on demand, and only one"
        assert daemon_pids(home) == [], "the daemon left once nothing needed it"
        assert not daemon_status(home).running
        history = store.sessions.history(session_id)
        states = [row.to_state for row in history]
        assert states == [
            S.PROVISIONING,
            S.RUNNING,
            S.SUSPENDING,
            S.SUSPENDED,
            S.ARCHIVING,
            S.ARCHIVED,
        ], (states, seen)
        by_state = {row.to_state: row for row in history}
        assert by_state[S.SUSPENDING].reason == "idle"
        assert by_state[S.ARCHIVING].reason == "archive window"
        idle_since = by_state[S.RUNNING].at
        # On schedule: not before the window, and within a few passes after it.
        assert IDLE_SUSPEND_S <= by_state[S.SUSPENDING].at - idle_since < IDLE_SUSPEND_S + 3.0
        assert ARCHIVE_AFTER_S <= by_state[S.ARCHIVING].at - idle_since < ARCHIVE_AFTER_S + 3.0
        status = daemon_status(home)
        assert status.exit_reason == "no session needs the lifecycle"
        assert "archived (window) 1" in status.last_outcome
        store.close()

        # Archived: no process of it is left running; destroying it leaves nothing at all.
        router = open_router(Settings.load(env={}, home=home, billing=False))
        provider = router.provider("local")
        assert isinstance(provider, LocalProvider)
        instance_id = made["instance_id"]
        assert provider.footprint(instance_id).pids == ()
        router.destroy(session_id)
        assert provider.footprint(instance_id).empty
        router.store.close()
    finally:
        assert stop_daemons(home) == []
