"""The kill switch during live Hermes streams: ``pause --now`` in each scope ends a streaming
run with ``run.cancelled`` carrying the reason, the run is billed up to the flip, and new runs
are refused until the pause is lifted."""

from __future__ import annotations

import threading
import time

import pytest
from hermes_world import World

from computerouter.domain.events import AgentEvent, RunCancelled, RunCompleted, RunStarted
from computerouter.domain.gates import Pause, PauseMode, PauseScope, ScopeKind
from computerouter.errors import Paused

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]


@pytest.mark.parametrize(
    ("kind", "target"),
    [(ScopeKind.GLOBAL, ""), (ScopeKind.USER, "alice"), (ScopeKind.PROVIDER, "local")],
)
def test_pause_now_ends_a_live_stream_and_refuses_new_runs(
    hermes_world: World, kind: ScopeKind, target: str
) -> None:
    agents = hermes_world.agents
    compute = agents.compute
    run = agents.run(user_id="alice", address=hermes_world.address, text="SLOW please")
    events: list[AgentEvent] = []
    started = threading.Event()

    def listen() -> None:
        for event in run.events():
            events.append(event)
            if isinstance(event, RunStarted):
                started.set()

    listener = threading.Thread(target=listen)
    listener.start()
    assert started.wait(120), events
    time.sleep(1.0)  # the model is now thinking (the stand-in sleeps on SLOW)
    scope = PauseScope(kind=kind, target=target)
    flip = compute.clock.now()
    try:
        asked = compute.gates.pause(
            Pause(scope=scope, mode=PauseMode.NOW, reason="runaway spend", actor="ops", at=flip)
        )
        assert asked == [run.run_id]
        listener.join(15)
        assert not listener.is_alive(), "the stream did not end after pause --now"
        last = events[-1]
        assert isinstance(last, RunCancelled), events[-3:]
        assert "runaway spend" in last.reason
        record = compute.store.runs.get(run.run_id)
        assert record is not None
        assert record.state == "cancelled"
        assert record.ended_at == flip, "metering stops at the flip"

        with pytest.raises(Paused, match="runaway spend"):
            agents.run(user_id="alice", address=hermes_world.address, text="hello?")
    finally:
        compute.gates.unpause(scope, reason="all clear", actor="ops")
    after = list(agents.run(user_id="alice", address=hermes_world.address, text="hello").events())
    assert isinstance(after[-1], RunCompleted)
