"""Issue 9's acceptance: a session moves between providers when its provider is down, and the
agent still remembers the turns before the move. Real Hermes, first on Daytona (emulated),
then, Daytona down, on ``local``; the model is the bundled stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from daytona_hermes_world import ADDRESS, hermes_on_daytona

from computerouter.agents.router import AgentRouter
from computerouter.domain.agents import ModelSettings
from computerouter.domain.events import AgentEvent, RunCompleted, SessionReady
from computerouter.emulators.daytona import EmulatorServer

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]

# Daytona cheaper than this machine, so the cost-aware agent lands there first.
PRICES = "[compute.local]\ncpu_hour = 900_000\n"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[AgentRouter, EmulatorServer]]:
    with hermes_on_daytona(
        tmp_path,
        agent=ModelSettings(compute_policy="cost-aware", on_provider_down="move"),
        prompt="You are the support agent of a session-move test.",
        model_key=None,
        prices=PRICES,
        lifecycle_daemon=False,
    ) as (router, emulator):
        try:
            yield router, emulator
        finally:
            httpx.delete(f"{emulator.base_url}/admin/faults")


def _turn(agents: AgentRouter, text: str) -> list[AgentEvent]:
    return list(agents.run(user_id="alice", address=ADDRESS, text=text).events())


def _output(events: list[AgentEvent]) -> str:
    assert isinstance(events[-1], RunCompleted), events[-3:]
    return events[-1].output


def test_hermes_remembers_across_a_move_from_daytona_that_is_down_to_local(
    stack: tuple[AgentRouter, EmulatorServer],
) -> None:
    agents, emulator = stack
    first = _turn(agents, "My name is Ada. Remember that the launch code is blue-42.")
    assert "stand-in" in _output(first)
    ready = first[0]
    assert isinstance(ready, SessionReady)
    assert agents.compute.get(ready.session_id).provider == "daytona"
    assert _output(_turn(agents, "What do you remember?")) == (
        "I remember: Ada; the launch code is blue-42."
    )
    agents.compute.archive(ready.session_id, reason="idle")
    for route in ("/api/", "/toolbox/", "/preview/"):
        fault = {"route": route, "status": 503, "message": "injected outage", "count": 10_000}
        httpx.post(f"{emulator.base_url}/admin/faults", json=fault).raise_for_status()

    after = _turn(agents, "What do you remember?")

    assert _output(after) == "I remember: Ada; the launch code is blue-42."
    moved = after[0]
    assert isinstance(moved, SessionReady)
    assert moved.session_id == ready.session_id
    session = agents.compute.get(ready.session_id)
    assert (session.provider, session.state.value) == ("local", "running")
    # And it goes on there, remembering the turn after the move as well.
    _turn(agents, "My name is Grace.")
    assert "Grace" in _output(_turn(agents, "What do you remember?"))
