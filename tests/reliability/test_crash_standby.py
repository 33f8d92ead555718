"""``kill -9`` of the control plane at every step of a restore into a standby
(``restore_pool``), with the real ``local`` provider and the real Hermes, then recovery by
another control plane (``compute reap``).

Each scenario tells the agent a new fact, archives the session, fills the standbys, then dies
by ``SIGKILL`` at the named failpoint of the turn that restores it. After the next control
plane's pass, the agent must remember every fact told so far, in the same session, on exactly
one instance (standbys aside), with no archive left behind once it runs again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.states import SessionState
from computerouter.faults import ENV
from computerouter.providers.local import probe
from computerouter.standin import StandinModel

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]

S = SessionState
USER, SANDBOX, SLUG = "alice", "sb1", "support"
MODEL_KEY = "sk-model-secret-crash-0123456789"
IMAGES = Path(os.environ.get("COMPUTEROUTER_TEST_IMAGES", "/var/cache/computerouter-images"))


@dataclass(kw_only=True)
class Agent:
    home: Path
    model: StandinModel
    facts: list[str] = field(default_factory=list)

    def env(self, failpoint: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPUTEROUTER_")}
        env.update(
            COMPUTEROUTER_HOME=str(self.home),
            COMPUTEROUTER_IMAGES_DIR=str(IMAGES),
            COMPUTEROUTER_MODEL_BASE_URL=self.model.base_url,
            COMPUTEROUTER_MODEL_API_KEY=MODEL_KEY,
            COMPUTEROUTER_MODEL_NAME="standin-model",
            COMPUTEROUTER_USER=USER,
            COMPUTEROUTER_TURN_TIMEOUT_S="60",
            COMPUTEROUTER_LIFECYCLE_DAEMON="false",
            COMPUTEROUTER_RESTORE_POOL="local:hermes=1",
        )
        if failpoint is not None:
            env[ENV] = failpoint
        return env

    def cli(self, *args: str, failpoint: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "computerouter", *args],
            env=self.env(failpoint),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def turn(self, text: str, *, failpoint: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.cli("run", f"{SANDBOX}/{SLUG}", text, "--json", failpoint=failpoint)

    def completed(self, text: str) -> str:
        done = self.turn(text)
        assert done.returncode == 0, done.stderr
        events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        assert events[-1]["type"] == "run.completed", events[-3:]
        return str(events[-1]["output"])

    def tell(self, fact: str) -> None:
        self.completed(f"Remember that {fact}.")
        self.facts.append(fact)

    def state(self) -> tuple[str, SessionState, str | None, list[str]]:
        """The one session (id, state, instance) and the session instances on the machine."""
        router = open_router(Settings.load(env=self.env()))
        try:
            [live] = [s for s in router.store.sessions.list() if s.state is not S.DESTROYED]
            local = router.provider("local")
            instances = [i.instance_id for i in local.list() if not i.pooled]
            return live.id, live.state, live.instance_id, instances
        finally:
            router.store.close()


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"crash tests need root, bubblewrap and cgroups: {', '.join(gaps)}")
    home = tmp_path_factory.mktemp("crash-standby-home")
    prompt = home.parent / "prompt.md"
    prompt.write_text("You are the support agent of a crash test.\n")
    with StandinModel(api_key=MODEL_KEY) as model:
        made = Agent(home=home, model=model)
        for args in (
            ("credits", "grant", "--user", USER, "1000"),
            ("agent", "create", SLUG, "--sandbox", SANDBOX, "--backend", "hermes"),
        ):
            extra = ("--compute-provider", "local", "--prompt-file", str(prompt))
            done = made.cli(*args, *(extra if args[0] == "agent" else ()))
            assert done.returncode == 0, done.stderr
        made.tell("the first fact is amber-1")
        try:
            yield made
        finally:
            session_id, *_ = made.state()
            made.cli("compute", "sessions", "destroy", session_id)
            router = open_router(Settings.load(env=made.env()))
            try:
                local = router.provider("local")
                for instance in local.list():
                    local.destroy(instance.instance_id)
            finally:
                router.store.close()


def died(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr[-500:])


STANDBY_RESTORE = [
    "restore.claimed",
    "local.standby.unpacked",
    "restore.provider_done",
    "restore.recorded",
]


@pytest.mark.parametrize("failpoint", STANDBY_RESTORE)
def test_kill_9_during_a_restore_into_a_standby(agent: Agent, failpoint: str) -> None:
    agent.tell(f"the fact told before {failpoint.replace('.', '-')} is kept")
    session_id, *_ = agent.state()
    done = agent.cli("compute", "sessions", "archive", session_id)
    assert done.returncode == 0, done.stderr
    filled = agent.cli("compute", "pool", "fill")
    assert filled.returncode == 0, filled.stdout + filled.stderr
    died(agent.turn("What do you remember?", failpoint=failpoint))
    for _ in range(2):  # a standby bound by the dead restore is an orphan from the next pass
        reaped = agent.cli("compute", "reap", "--json")
        assert reaped.returncode == 0, reaped.stderr
    answer = agent.completed("What do you remember?")
    for fact in agent.facts:
        assert fact in answer, f"lost {fact!r}: the agent answered {answer!r}"
    reaped = agent.cli("compute", "reap", "--json")
    assert reaped.returncode == 0, reaped.stderr
    live_id, state, instance_id, instances = agent.state()
    assert (live_id, state) == (session_id, S.RUNNING), "the same session must carry on"
    assert instances == [instance_id], "exactly one instance holds the session"
    archives = agent.home / "local" / "archives"
    assert not (list(archives.iterdir()) if archives.is_dir() else []), "no archive left"
