"""``kill -9`` of the control plane at every step of suspend, resume, archive and restore, with
the real ``local`` provider and the real Hermes, then recovery by another control plane.

One agent lives through every scenario in this module, in one session. Each scenario brings the
session to the state its operation starts from, tells the agent a new fact, runs a CLI process
that dies by ``SIGKILL`` at the named failpoint (see :mod:`computerouter.faults`), runs
``compute reap`` as the next control plane, then asks the agent what it remembers: every fact
told so far must still be there, in the same session, with exactly one instance on the machine.
At the end the ledger holds exactly two entries (token, compute) per completed run, none for a
run that died, and balances still add up.
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
from computerouter.ledger import Ledger
from computerouter.providers.local import probe
from computerouter.standin import StandinModel
from computerouter.store.ledger_queries import EntryFilter
from computerouter.store.ledger_rows import EntryKind
from computerouter.testing.environment import child_env

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]

S = SessionState
USER, SANDBOX, SLUG = "alice", "sb1", "support"
MODEL_KEY = "sk-model-secret-crash-0123456789"
# The Hermes image cache shared with the integration tests (built once, about a minute).
IMAGES = Path(os.environ.get("COMPUTEROUTER_TEST_IMAGES", "/var/cache/computerouter-images"))


@dataclass(kw_only=True)
class Agent:
    home: Path
    model: StandinModel
    facts: list[str] = field(default_factory=list)
    completed_runs: list[str] = field(default_factory=list)

    def env(self, failpoint: str | None = None) -> dict[str, str]:
        env = child_env()
        env.update(
            COMPUTEROUTER_HOME=str(self.home),
            COMPUTEROUTER_IMAGES_DIR=str(IMAGES),
            COMPUTEROUTER_MODEL_BASE_URL=self.model.base_url,
            COMPUTEROUTER_MODEL_API_KEY=MODEL_KEY,
            COMPUTEROUTER_MODEL_NAME="standin-model",
            COMPUTEROUTER_USER=USER,
            COMPUTEROUTER_TURN_TIMEOUT_S="60",
            COMPUTEROUTER_LIFECYCLE_DAEMON="false",
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

    def session(self) -> tuple[str, SessionState]:
        router = open_router(Settings.load(env=self.env()))
        try:
            [live] = [s for s in router.store.sessions.list() if s.state not in (S.DESTROYED,)]
            return live.id, live.state
        finally:
            router.store.close()


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"crash tests need root, bubblewrap and cgroups: {', '.join(gaps)}")
    home = tmp_path_factory.mktemp("crash-home")
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
            session_id, _ = made.session()
            made.cli("compute", "sessions", "destroy", session_id)


def bring_to(agent: Agent, state: SessionState) -> str:
    """Put the one session in ``state`` by ordinary, uninterrupted commands."""
    session_id, current = agent.session()
    if current is not S.RUNNING:
        agent.completed("Hello again.")
    if state is S.RUNNING:
        return session_id
    verb = {S.SUSPENDED: "suspend", S.ARCHIVED: "archive"}[state]
    done = agent.cli("compute", "sessions", verb, session_id)
    assert done.returncode == 0, done.stderr
    assert agent.session() == (session_id, state)
    return session_id


def recover_and_check(agent: Agent, session_id: str) -> None:
    reaped = agent.cli("compute", "reap", "--json")
    assert reaped.returncode == 0, reaped.stderr
    answer = agent.completed("What do you remember?")
    for fact in agent.facts:
        assert fact in answer, f"lost {fact!r}: the agent answered {answer!r}"
    live_id, state = agent.session()
    assert (live_id, state) == (session_id, S.RUNNING), "the same session must carry on"
    instances = agent.home / "local" / "instances"
    assert [d.name for d in instances.iterdir()] == [f"lc-{session_id}"]
    archives = agent.home / "local" / "archives"
    leftovers = list(archives.iterdir()) if archives.is_dir() else []
    assert leftovers == [], "a restored, recorded session releases its archive"


def fact_for(failpoint: str) -> str:
    return f"the fact told before {failpoint.replace('.', '-')} is kept"


def died(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr[-500:])


# Each operation: the state it starts from, how it is started, and its failpoints in order.
SUSPEND = ["suspend.claimed", "suspend.provider_done"]
ARCHIVE = ["archive.claimed", "local.archive.packed", "local.archive.recorded"]
ARCHIVE += ["archive.provider_done"]
RESUME = ["resume.claimed", "resume.provider_done"]
RESTORE = ["restore.claimed", "local.restore.recorded", "local.restore.unpacked"]
RESTORE += ["local.restore.started", "restore.provider_done", "restore.recorded"]


@pytest.mark.parametrize("failpoint", SUSPEND)
def test_kill_9_during_suspend(agent: Agent, failpoint: str) -> None:
    session_id = bring_to(agent, S.RUNNING)
    agent.tell(fact_for(failpoint))
    died(agent.cli("compute", "sessions", "suspend", session_id, failpoint=failpoint))
    recover_and_check(agent, session_id)


@pytest.mark.parametrize("failpoint", ARCHIVE)
def test_kill_9_during_archive(agent: Agent, failpoint: str) -> None:
    session_id = bring_to(agent, S.RUNNING)
    agent.tell(fact_for(failpoint))
    died(agent.cli("compute", "sessions", "archive", session_id, failpoint=failpoint))
    recover_and_check(agent, session_id)


@pytest.mark.parametrize("failpoint", RESUME)
def test_kill_9_during_resume(agent: Agent, failpoint: str) -> None:
    agent.tell(fact_for(failpoint))
    session_id = bring_to(agent, S.SUSPENDED)
    died(agent.turn("What do you remember?", failpoint=failpoint))
    recover_and_check(agent, session_id)


@pytest.mark.parametrize("failpoint", RESTORE)
def test_kill_9_during_restore(agent: Agent, failpoint: str) -> None:
    agent.tell(fact_for(failpoint))
    session_id = bring_to(agent, S.ARCHIVED)
    died(agent.turn("What do you remember?", failpoint=failpoint))
    recover_and_check(agent, session_id)


def test_the_ledger_holds_exactly_what_the_completed_runs_owe(agent: Agent) -> None:
    settings = Settings.load(env=agent.env())
    router = open_router(settings)
    try:
        ledger = router.credit_gate
        assert isinstance(ledger, Ledger)
        entries = ledger.ledger_store.entries(
            EntryFilter(kinds=[EntryKind.TOKEN, EntryKind.COMPUTE])
        )
        by_run: dict[str, list[EntryKind]] = {}
        for entry in entries:
            assert entry.run_id is not None
            by_run.setdefault(entry.run_id, []).append(entry.kind)
        assert set(by_run) == set(agent.completed_runs), "no entry for a run that died"
        for run_id, kinds in by_run.items():
            assert sorted(kinds) == sorted([EntryKind.TOKEN, EntryKind.COMPUTE]), run_id
    finally:
        router.store.close()
    audit = agent.cli("credits", "audit", "--json")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert json.loads(audit.stdout)["mismatched"] == []
