"""A failed session keeps its last archive until an operator destroys it; the next ensure or
run says so (one line, exit 4) instead of silently starting the sandbox over, and ``recover``
brings the workspace back. Real ``local`` sessions, driven through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from computerouter.domain.states import SessionState
from computerouter.providers.local import probe
from computerouter.store import open_store
from computerouter.testing.environment import child_env

pytestmark = pytest.mark.isolation


@pytest.fixture(autouse=True)
def _needs_isolation() -> None:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"needs root, bubblewrap and cgroups: {', '.join(gaps)}")


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_env()
    env.update(COMPUTEROUTER_HOME=str(home), COMPUTEROUTER_LIFECYCLE_DAEMON="false")
    return subprocess.run(
        [sys.executable, "-m", "computerouter", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def ensure(home: Path) -> subprocess.CompletedProcess[str]:
    return cli(
        home,
        *("compute", "sessions", "ensure", "--user", "u1", "--sandbox", "s1"),
        *("--runtime", "echo", "--json"),
    )


def test_failed_session_keeps_its_archive_until_recovered_or_destroyed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = ensure(home)
    assert made.returncode == 0, made.stderr
    session_id = json.loads(made.stdout)["id"]
    wrote = cli(
        home,
        *("compute", "sessions", "exec", session_id, "--"),
        *("/bin/sh", "-c", "echo kept-memory > /workspace/memory.txt"),
    )
    assert wrote.returncode == 0, wrote.stderr
    assert cli(home, "compute", "sessions", "archive", session_id).returncode == 0

    # Something broke beyond automatic repair: the session is marked failed.
    store = open_store(f"sqlite:///{home / 'computerouter.db'}")
    store.sessions.transition(
        session_id, expected=SessionState.ARCHIVED, target=SessionState.FAILED, now=time.time()
    )
    reaped = cli(home, "compute", "reap")
    assert reaped.returncode == 0, reaped.stderr
    assert list((home / "local" / "archives").iterdir()), "the reaper must keep the archive"

    refused = ensure(home)
    assert refused.returncode == 4
    [line] = [x for x in refused.stderr.splitlines() if x.strip()]
    assert session_id in line
    assert "recover" in line
    assert "Traceback" not in refused.stderr
    assert [s.id for s in store.sessions.list()] == [session_id], "nothing new was started"

    recovered = cli(home, "compute", "sessions", "recover", session_id, "--json")
    assert recovered.returncode == 0, recovered.stderr
    assert json.loads(recovered.stdout)["state"] == "archived"
    again = ensure(home)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["id"] == session_id
    read = cli(
        home, "compute", "sessions", "exec", session_id, "--", "cat", "/workspace/memory.txt"
    )
    assert read.stdout.strip() == "kept-memory"

    # Destroying it is the operator's way to start over.
    assert cli(home, "compute", "sessions", "destroy", session_id).returncode == 0
    fresh = ensure(home)
    assert fresh.returncode == 0, fresh.stderr
    assert json.loads(fresh.stdout)["id"] != session_id
    cli(home, "compute", "sessions", "destroy", json.loads(fresh.stdout)["id"])
    store.close()
