"""Acceptance: a pre-warmed sandbox works for its agents, with the real Hermes.

``compute sessions ensure`` starts the runtime the sandbox's agents need (Hermes), so the first
run reuses the warm session; and a run that finds its session running another runtime switches
the session to the agent's runtime, keeping the workspace, instead of failing with an HTTP 404.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hermes_world import IMAGES, MODEL_KEY, World, destroy_all, make_world

from computerouter.domain.events import AgentEvent, RunCompleted, SessionReady
from computerouter.domain.values import SessionKey
from computerouter.providers.local import LocalProvider, probe
from computerouter.providers.local.metadata import InstancePaths
from computerouter.runtimes.transport import client_for
from computerouter.standin import StandinModel
from computerouter.testing.environment import child_env

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]


@pytest.fixture(autouse=True)
def _needs_isolation() -> None:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"Hermes integration needs root, bubblewrap and cgroups: {', '.join(gaps)}")


def cli_env(home: Path, model: StandinModel) -> dict[str, str]:
    env = child_env()
    return env | {
        "COMPUTEROUTER_HOME": str(home),
        "COMPUTEROUTER_IMAGES_DIR": str(IMAGES),
        "COMPUTEROUTER_MODEL_BASE_URL": model.base_url,
        "COMPUTEROUTER_MODEL_API_KEY": MODEL_KEY,
    }


def run_agent(world: World, text: str) -> list[AgentEvent]:
    run = world.agents.run(user_id="alice", address=world.address, text=text)
    return list(run.events())


def test_a_prewarmed_sandbox_runs_its_hermes_agent_on_the_warm_session(tmp_path: Path) -> None:
    with StandinModel(api_key=MODEL_KEY) as model:
        world = make_world(tmp_path, model)
        try:
            ensured = subprocess.run(
                [
                    *(sys.executable, "-m", "computerouter", "compute", "sessions", "ensure"),
                    *("--user", "alice", "--sandbox", "sb1", "--json"),
                ],
                env=cli_env(tmp_path, model),
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert ensured.returncode == 0, ensured.stderr
            warm = json.loads(ensured.stdout)
            assert warm["runtime"] == "hermes"

            events = run_agent(world, "hello after a pre-warm")

            assert isinstance(events[-1], RunCompleted), events[-2:]
            assert "Hello" in events[-1].output
            ready = events[0]
            assert isinstance(ready, SessionReady)
            assert ready.session_id == warm["id"]
            assert ready.how == "already running"

            logs = subprocess.run(
                [
                    *(sys.executable, "-m", "computerouter", "compute", "sessions", "logs"),
                    *(warm["id"], "--lines", "5"),
                ],
                env=cli_env(tmp_path, model),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert logs.returncode == 0, logs.stderr
            sources = {line.split(" | ", 1)[0] for line in logs.stdout.splitlines()}
            # The session's output, and Hermes's own logs from its HERMES_HOME in the workspace.
            assert "session" in sources, logs.stdout
            assert ".hermes/logs/gateway.log" in sources, logs.stdout
            assert ".hermes/logs/agent.log" in sources, logs.stdout
        finally:
            destroy_all(world)


def test_a_run_switches_a_session_running_another_runtime_and_keeps_its_workspace(
    tmp_path: Path,
) -> None:
    with StandinModel(api_key=MODEL_KEY) as model:
        world = make_world(tmp_path, model)
        compute = world.agents.compute
        try:
            echo = compute.ensure_session(
                SessionKey(user_id="alice", sandbox_id="sb1"), runtime="echo"
            )
            assert echo.endpoint is not None
            assert echo.instance_id is not None
            with client_for(echo.endpoint, timeout_s=5) as client:
                put = client.put("/v1/workspace/notes.txt", content=b"kept across the switch")
                assert put.status_code == 200

            events = run_agent(world, "hello on a session that ran echo")

            assert isinstance(events[-1], RunCompleted), events[-2:]
            ready = events[0]
            assert isinstance(ready, SessionReady)
            assert ready.session_id == echo.id
            assert "echo" in ready.how
            switched = compute.get(echo.id)
            assert switched.runtime == "hermes"
            assert switched.state.value == "running"
            provider = compute.provider("local")
            assert isinstance(provider, LocalProvider)
            workspace = InstancePaths.of(provider.root, echo.instance_id).workspace
            assert (workspace / "notes.txt").read_bytes() == b"kept across the switch"

            again = run_agent(world, "and once more")
            assert isinstance(again[-1], RunCompleted), again[-2:]
            second = again[0]
            assert isinstance(second, SessionReady)
            assert (second.session_id, second.how) == (echo.id, "already running")
        finally:
            destroy_all(world)
