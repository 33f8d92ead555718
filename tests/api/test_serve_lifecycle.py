"""A serving process runs the lifecycle itself: a session made through the API, left idle,
is suspended on time by ``serve`` (real local sessions; needs root, bubblewrap and cgroups)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from served import CLI, serve

from computerouter.client import Client
from computerouter.providers.local import probe

pytestmark = [pytest.mark.isolation, pytest.mark.timeout(300)]


def test_serve_suspends_an_idle_session_by_itself(tmp_path: Path) -> None:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"local sessions need root, bubblewrap and cgroups: {', '.join(gaps)}")
    env = {
        **os.environ,
        "COMPUTEROUTER_HOME": str(tmp_path),
        "COMPUTEROUTER_MODEL_BASE_URL": "http://127.0.0.1:9/v1",
        "COMPUTEROUTER_IDLE_SUSPEND_S": "1",
        "COMPUTEROUTER_LIFECYCLE_INTERVAL_S": "0.3",
        "COMPUTEROUTER_LIFECYCLE_DAEMON": "false",
    }
    made = subprocess.run(
        [*CLI, "keys", "create", "--user", "alice", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    key = json.loads(made.stdout)["secret"]
    with serve(env) as served:
        client = Client(served.url, key)
        session = client.compute.sessions.ensure("sb1", runtime="echo")
        assert session.state == "running"
        try:
            deadline = time.monotonic() + 120  # passes are slow on a loaded machine
            while client.compute.sessions.get(session.id).state != "suspended":
                assert time.monotonic() < deadline, "serve did not suspend the idle session"
                time.sleep(0.2)
        finally:
            client.compute.sessions.destroy(session.id)
        assert client.compute.sessions.get(session.id).state == "destroyed"
