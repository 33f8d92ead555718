"""``kill -9`` of the control plane at every step of a restore into a standby
(``restore_pool``), with the real ``local`` provider and the real Hermes, then recovery by
another control plane (``compute reap``).

Each scenario tells the agent a new fact, archives the session, fills the standbys, then dies
by ``SIGKILL`` at the named failpoint of the turn that restores it. After the next control
plane's pass, the agent must remember every fact told so far, in the same session, on exactly
one instance (standbys aside), with no archive left behind once it runs again.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator

import pytest
from crash_agent import CrashAgent, crash_agent

from computerouter.domain.states import SessionState
from computerouter.providers.local import probe

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]

S = SessionState


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashAgent]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"crash tests need root, bubblewrap and cgroups: {', '.join(gaps)}")
    with crash_agent(
        tmp_path_factory.mktemp("crash-standby-home"), COMPUTEROUTER_RESTORE_POOL="local:hermes=1"
    ) as made:
        yield made


def died(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr[-500:])


STANDBY_RESTORE = [
    "restore.claimed",
    "local.standby.unpacked",
    "restore.provider_done",
    "restore.recorded",
]


@pytest.mark.parametrize("failpoint", STANDBY_RESTORE)
def test_kill_9_during_a_restore_into_a_standby(agent: CrashAgent, failpoint: str) -> None:
    agent.tell(f"the fact told before {failpoint.replace('.', '-')} is kept")
    session_id, *_ = agent.live_session()
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
    live_id, state, instance_id, instances = agent.live_session()
    assert (live_id, state) == (session_id, S.RUNNING), "the same session must carry on"
    assert instances == [instance_id], "exactly one instance holds the session"
    archives = agent.home / "local" / "archives"
    assert not (list(archives.iterdir()) if archives.is_dir() else []), "no archive left"
