"""Issue 9's acceptance: a session moves between providers when its provider is down, and the
agent still remembers the turns before the move. Real Hermes, first on Daytona (emulated),
then, Daytona down, on ``local``; the model is the bundled stand-in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from computerouter.agents.factory import agent_router_for
from computerouter.agents.router import AgentRouter
from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.events import AgentEvent, RunCompleted, SessionReady
from computerouter.emulators.daytona import EmulatorServer, EmulatorSettings, Timings
from computerouter.ledger import MICRO, Ledger
from computerouter.providers.local import probe
from computerouter.runtimes.hermes.image import HermesImage
from computerouter.standin import StandinModel

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]

IMAGES = Path(os.environ.get("COMPUTEROUTER_TEST_IMAGES", "/var/cache/computerouter-images"))
ADDRESS = AgentAddress(sandbox_id="sb1", slug="support")
# Daytona cheaper than this machine, so the cost-aware agent lands there first.
PRICES = "[compute.local]\ncpu_hour = 900_000\n"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[AgentRouter, EmulatorServer]]:
    if probe().gaps():
        pytest.skip("the emulator backs sandboxes with local sessions")
    hermes = HermesImage(images_dir=IMAGES)
    hermes.ensure()
    image = hermes.runtime_image()
    emulated = EmulatorSettings(
        timings=Timings(speed=100.0), images=((image.ref, str(hermes.path), image.target),)
    )
    home = tmp_path / "home"
    home.mkdir()
    (home / "prices.toml").write_text(PRICES)
    with (
        StandinModel(api_key=None) as model,
        EmulatorServer(root=tmp_path / "emulator", settings=emulated) as emulator,
    ):
        settings = Settings.load(
            env={
                "COMPUTEROUTER_DAYTONA_API_URL": emulator.api_url,
                "COMPUTEROUTER_DAYTONA_API_KEY": emulated.api_key,
                "COMPUTEROUTER_DAYTONA_TARGET": "us",
            },
            home=home,
            images_dir=str(IMAGES),
            model_base_url=model.base_url,
            model_api_key="",
            model_name="standin-model",
            turn_timeout_s=60.0,
            lifecycle_daemon=False,
        )
        router = agent_router_for(open_router(settings))
        ledger = router.compute.credit_gate
        assert isinstance(ledger, Ledger)
        ledger.grant("alice", 1_000 * MICRO, note="session move test")
        router.create_agent(
            user_id="alice",
            address=ADDRESS,
            settings=ModelSettings(compute_policy="cost-aware", on_provider_down="move"),
            prompt="You are the support agent of a session-move test.",
        )
        try:
            yield router, emulator
        finally:
            httpx.delete(f"{emulator.base_url}/admin/faults")
            for session in router.compute.store.sessions.list():
                if session.state.value not in ("destroyed", "failed"):
                    router.compute.destroy(session.id)
            router.compute.store.close()


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
