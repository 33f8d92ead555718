"""kill -9 of the control plane in the middle of provisioning, then a restart.

The control plane is a real ``computerouter compute sessions ensure`` process making a real
local session; the test kills it with SIGKILL at a chosen point and starts a new control plane
(``computerouter compute reap``). Afterwards the session is either adopted (running, healthy,
exactly one instance) or failed with nothing left: no process, cgroup, socket or directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.states import SessionState
from computerouter.faults import ENV
from computerouter.providers.local import LocalProvider, probe
from computerouter.providers.local.metadata import InstancePaths, instance_id_for
from computerouter.runtimes.transport import client_for
from computerouter.testing.environment import child_env

pytestmark = pytest.mark.isolation


@pytest.fixture(autouse=True)
def _needs_isolation() -> None:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"crash tests need root, bubblewrap and cgroups: {', '.join(gaps)}")


def _env(home: Path) -> dict[str, str]:
    env = child_env()
    env["COMPUTEROUTER_HOME"] = str(home)
    env["COMPUTEROUTER_LIFECYCLE_DAEMON"] = "false"  # the test is the only lifecycle here
    return env


def _row_state(home: Path) -> str | None:
    db = home / "computerouter.db"
    if not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05) as conn:
            row = conn.execute("SELECT state FROM sessions").fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def _instance_dirs(home: Path) -> list[Path]:
    base = home / "local" / "instances"
    return sorted(base.iterdir()) if base.is_dir() else []


def _sockets(home: Path) -> list[Path]:
    provider = LocalProvider(root=home / "local")
    return [
        InstancePaths.of(provider.root, d.name).sock_dir / "runtime.sock"
        for d in _instance_dirs(home)
        if (InstancePaths.of(provider.root, d.name).sock_dir / "runtime.sock").exists()
    ]


KILL_POINTS = {
    "row committed": "create.inserted",
    "instance directory made": "local.create.dir_made",
    "runtime socket bound": "local.create.started",
}


@pytest.mark.parametrize("kill_point", sorted(KILL_POINTS))
def test_kill_9_mid_provisioning_then_restart(tmp_path: Path, kill_point: str) -> None:
    home = tmp_path / "home"
    ensure = subprocess.run(
        [
            sys.executable,
            "-m",
            "computerouter",
            "compute",
            "sessions",
            "ensure",
            "--user",
            "crash",
            "--sandbox",
            "test",
            "--runtime",
            "echo",
            "--json",
        ],
        env={**_env(home), ENV: KILL_POINTS[kill_point]},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert ensure.returncode == -signal.SIGKILL, ensure.stderr
    state_at_kill = _row_state(home)
    assert state_at_kill is not None, "the control plane died before writing its session row"

    restart = subprocess.run(
        [sys.executable, "-m", "computerouter", "compute", "reap", "--json"],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert restart.returncode == 0, restart.stderr

    router = open_router(Settings.load(env={}, home=home))
    provider = router.provider("local")
    assert isinstance(provider, LocalProvider)
    [record] = router.store.sessions.list()
    owned = instance_id_for(record.id)
    try:
        if record.state is SessionState.RUNNING:
            # adopted: healthy, and the only thing the provider holds
            assert record.endpoint is not None
            with client_for(record.endpoint, timeout_s=5) as client:
                assert client.get("/health").status_code == 200
            assert [i.instance_id for i in provider.list()] == [owned]
        else:
            assert record.state is SessionState.FAILED, (state_at_kill, record, restart.stdout)
            assert provider.list() == []
            assert provider.footprint(owned).empty
    finally:
        if record.state is SessionState.RUNNING:
            router.destroy(record.id)
    # Either way, once destroyed nothing of it remains on the machine.
    assert provider.footprint(owned).empty
    assert _instance_dirs(home) == []
    assert provider.list() == []
    router.store.close()


def test_a_session_whose_processes_died_is_archived_and_comes_back(tmp_path: Path) -> None:
    """Its tree killed behind the router's back (as by a host restart): the reconciler archives
    the workspace, and the next ensure_session restores it with the files intact."""
    from computerouter.compute.reconciler import reconcile
    from computerouter.domain.values import SessionKey

    router = open_router(Settings.load(env={}, home=tmp_path, billing=False))
    key = SessionKey(user_id="u", sandbox_id="s")
    session = router.ensure_session(key, runtime="echo")
    assert session.endpoint is not None
    assert session.instance_id is not None
    with client_for(session.endpoint, timeout_s=5) as client:
        assert client.put("/v1/workspace/kept.txt", content=b"still here").status_code == 200
    provider = router.provider("local")
    assert isinstance(provider, LocalProvider)
    for pid in provider.footprint(session.instance_id).pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while provider.footprint(session.instance_id).pids and time.monotonic() < deadline:
        time.sleep(0.02)

    report = reconcile(router)

    assert report.archived_stopped == [session.id]
    assert router.get(session.id).state is SessionState.ARCHIVED
    back = router.ensure_session(key)
    assert back.id == session.id
    assert back.endpoint is not None
    with client_for(back.endpoint, timeout_s=5) as client:
        assert client.get("/v1/workspace/kept.txt").content == b"still here"
    router.destroy(session.id)
    assert provider.footprint(session.instance_id).empty
    router.store.close()
