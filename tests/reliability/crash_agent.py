"""One Hermes agent driven through the real CLI, each command its own control plane, any of
them told to die by ``SIGKILL`` at a failpoint: what the crash tests of Hermes sessions share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.states import SessionState
from computerouter.faults import ENV
from computerouter.standin import StandinModel
from computerouter.testing.environment import child_env

__all__ = ["IMAGES", "MODEL_KEY", "SANDBOX", "SLUG", "USER", "CrashAgent", "crash_agent"]

USER, SANDBOX, SLUG = "alice", "sb1", "support"
MODEL_KEY = "sk-model-secret-crash-0123456789"
# The Hermes image cache shared with the integration tests (built once, about a minute).
IMAGES = Path(os.environ.get("COMPUTEROUTER_TEST_IMAGES", "/var/cache/computerouter-images"))


@dataclass(kw_only=True)
class CrashAgent:
    home: Path
    model: StandinModel
    settings: dict[str, str] = field(default_factory=dict)
    """More ``COMPUTEROUTER_*`` settings for every command."""
    facts: list[str] = field(default_factory=list)
    completed_runs: list[str] = field(default_factory=list)

    def env(self, failpoint: str | None = None) -> dict[str, str]:
        env = child_env(
            COMPUTEROUTER_HOME=str(self.home),
            COMPUTEROUTER_IMAGES_DIR=str(IMAGES),
            COMPUTEROUTER_MODEL_BASE_URL=self.model.base_url,
            COMPUTEROUTER_MODEL_API_KEY=MODEL_KEY,
            COMPUTEROUTER_MODEL_NAME="standin-model",
            COMPUTEROUTER_USER=USER,
            COMPUTEROUTER_TURN_TIMEOUT_S="60",
            COMPUTEROUTER_LIFECYCLE_DAEMON="false",
            **self.settings,
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
        """Run a turn that must complete; return its output."""
        done = self.turn(text)
        assert done.returncode == 0, done.stderr
        events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        last = events[-1]
        assert last["type"] == "run.completed", events[-3:]
        self.completed_runs.append(last["run_id"])
        return str(last["output"])

    def tell(self, fact: str) -> None:
        self.completed(f"Remember that {fact}.")
        self.facts.append(fact)

    def live_session(self) -> tuple[str, SessionState, str | None, list[str]]:
        """The one session (id, state, instance) and the session instances on the machine
        (pooled ones aside)."""
        router = open_router(Settings.load(env=self.env()))
        try:
            [live] = [
                s for s in router.store.sessions.list() if s.state is not SessionState.DESTROYED
            ]
            local = router.provider("local")
            instances = [i.instance_id for i in local.list() if not i.pooled]
            return live.id, live.state, live.instance_id, instances
        finally:
            router.store.close()


@contextmanager
def crash_agent(home: Path, **settings: str) -> Iterator[CrashAgent]:
    """The agent (credit granted, a first fact told) with its model stand-in; its session and
    every instance of its home destroyed at the end."""
    prompt = home.parent / "prompt.md"
    prompt.write_text("You are the support agent of a crash test.\n")
    with StandinModel(api_key=MODEL_KEY) as model:
        made = CrashAgent(home=home, model=model, settings=settings)
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
            session_id, *_ = made.live_session()
            made.cli("compute", "sessions", "destroy", session_id)
            router = open_router(Settings.load(env=made.env()))
            try:
                local = router.provider("local")
                for instance in local.list():
                    local.destroy(instance.instance_id)
            finally:
                router.store.close()
