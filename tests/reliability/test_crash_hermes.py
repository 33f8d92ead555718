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
import signal
import subprocess
from collections.abc import Iterator

import pytest
from crash_agent import CrashAgent, crash_agent

from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.states import SessionState
from computerouter.ledger import Ledger
from computerouter.providers.local import probe
from computerouter.store.ledger_queries import EntryFilter
from computerouter.store.ledger_rows import EntryKind

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]

S = SessionState


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashAgent]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"crash tests need root, bubblewrap and cgroups: {', '.join(gaps)}")
    with crash_agent(tmp_path_factory.mktemp("crash-home")) as made:
        yield made


def bring_to(agent: CrashAgent, state: SessionState) -> str:
    """Put the one session in ``state`` by ordinary, uninterrupted commands."""
    session_id, current = agent.live_session()[:2]
    if current is not S.RUNNING:
        agent.completed("Hello again.")
    if state is S.RUNNING:
        return session_id
    verb = {S.SUSPENDED: "suspend", S.ARCHIVED: "archive"}[state]
    done = agent.cli("compute", "sessions", verb, session_id)
    assert done.returncode == 0, done.stderr
    assert agent.live_session()[:2] == (session_id, state)
    return session_id


def recover_and_check(agent: CrashAgent, session_id: str) -> None:
    reaped = agent.cli("compute", "reap", "--json")
    assert reaped.returncode == 0, reaped.stderr
    answer = agent.completed("What do you remember?")
    for fact in agent.facts:
        assert fact in answer, f"lost {fact!r}: the agent answered {answer!r}"
    live_id, state = agent.live_session()[:2]
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
def test_kill_9_during_suspend(agent: CrashAgent, failpoint: str) -> None:
    session_id = bring_to(agent, S.RUNNING)
    agent.tell(fact_for(failpoint))
    died(agent.cli("compute", "sessions", "suspend", session_id, failpoint=failpoint))
    recover_and_check(agent, session_id)


@pytest.mark.parametrize("failpoint", ARCHIVE)
def test_kill_9_during_archive(agent: CrashAgent, failpoint: str) -> None:
    session_id = bring_to(agent, S.RUNNING)
    agent.tell(fact_for(failpoint))
    died(agent.cli("compute", "sessions", "archive", session_id, failpoint=failpoint))
    recover_and_check(agent, session_id)


@pytest.mark.parametrize("failpoint", RESUME)
def test_kill_9_during_resume(agent: CrashAgent, failpoint: str) -> None:
    agent.tell(fact_for(failpoint))
    session_id = bring_to(agent, S.SUSPENDED)
    died(agent.turn("What do you remember?", failpoint=failpoint))
    recover_and_check(agent, session_id)


@pytest.mark.parametrize("failpoint", RESTORE)
def test_kill_9_during_restore(agent: CrashAgent, failpoint: str) -> None:
    agent.tell(fact_for(failpoint))
    session_id = bring_to(agent, S.ARCHIVED)
    died(agent.turn("What do you remember?", failpoint=failpoint))
    recover_and_check(agent, session_id)


def test_the_ledger_holds_exactly_what_the_completed_runs_owe(agent: CrashAgent) -> None:
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
