"""Restoring an archived Hermes session into a standby (``restore_pool``): the real ``local``
provider, the real Hermes. The restored session remembers its conversation, runs on the
standby's own instance and uid, and the archived instance is gone; with no standby left the
next restore is an ordinary one, and remembers too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hermes_world import MODEL_KEY, World, destroy_all, make_world

from computerouter.domain.events import AgentEvent, RunCompleted, SessionReady
from computerouter.providers.local import LocalProvider, probe
from computerouter.standin import StandinModel

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(600)]


def turn(world: World, text: str) -> list[AgentEvent]:
    return list(world.agents.run(user_id="alice", address=world.address, text=text).events())


def output(events: list[AgentEvent]) -> str:
    last = events[-1]
    assert isinstance(last, RunCompleted), events[-3:]
    return last.output


def session_of(events: list[AgentEvent]) -> str:
    ready = events[0]
    assert isinstance(ready, SessionReady)
    return ready.session_id


def inside(world: World, session_id: str, script: str) -> str:
    compute = world.agents.compute
    instance_id = compute.get(session_id).instance_id
    assert instance_id is not None
    result = compute.provider("local").exec(
        instance_id, ["/usr/bin/python3", "-c", script], timeout_s=30
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"Hermes integration needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    with StandinModel(api_key=MODEL_KEY, slow_seconds=20.0) as model:
        made = make_world(
            tmp_path_factory.mktemp("standby-home"), model, restore_pool="local:hermes=1"
        )
        provider = made.agents.compute.provider("local")
        assert isinstance(provider, LocalProvider)
        try:
            yield made
        finally:
            for pooled in provider.pooled():
                provider.discard(pooled.instance_id)
            destroy_all(made)


def test_restore_into_a_standby_keeps_the_conversation(world: World) -> None:
    compute = world.agents.compute
    provider = compute.provider("local")
    assert isinstance(provider, LocalProvider)
    session_id = session_of(turn(world, "My name is Grace."))
    archived = compute.get(session_id).instance_id
    assert archived is not None
    compute.archive(session_id)
    report = compute.pool.maintain()
    assert len(report.booted) == 1, report
    [standby] = provider.pooled()
    assert standby.ready
    assert standby.session_id != session_id

    restored = turn(world, "What do you remember?")
    assert restored[0].how == "restored"  # type: ignore[attr-defined]
    assert session_of(restored) == session_id
    assert "Grace" in output(restored)
    record = compute.get(session_id)
    assert record.instance_id == standby.instance_id
    assert provider.get(archived) is None  # the archived instance and its archive are gone
    assert provider.pooled() == []
    check = inside(
        world,
        session_id,
        "import os, sqlite3; c = sqlite3.connect('/workspace/.hermes/state.db');"
        "print(c.execute('PRAGMA integrity_check').fetchone()[0]);"
        "print(c.execute('SELECT count(*) FROM messages').fetchone()[0]);"
        "print(os.stat('/workspace/.hermes/state.db').st_uid == os.getuid())",
    )
    integrity, messages, owned = check.split()
    assert integrity == "ok"
    assert int(messages) >= 4
    assert owned == "True"  # unpacked as the standby's own uid

    # No standby left (the pool is refilled by the next pass only): an ordinary restore.
    turn(world, "Remember that the colour is teal.")
    compute.archive(session_id)
    again = turn(world, "What do you remember?")
    assert again[0].how == "restored"  # type: ignore[attr-defined]
    assert compute.get(session_id).instance_id == standby.instance_id
    assert "Grace" in output(again)
    assert "teal" in output(again)
