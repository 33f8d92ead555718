"""A real Hermes turn on fly_sprites through its emulator, two turns remembering each other,
and a turn after an archive that restores the sprite. The sprite's only way out is the
router's remote gateway, which stamps the model's key (the stand-in refuses calls without
it); the key is nowhere in the sprite."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from computerouter.agents.factory import agent_router_for
from computerouter.agents.router import AgentRouter
from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.events import AgentEvent, RunCompleted, SessionReady
from computerouter.emulators.fly_sprites import Timings, World, start
from computerouter.ledger import MICRO, Ledger
from computerouter.providers.local import probe
from computerouter.runtimes.hermes.image import HermesImage
from computerouter.standin import StandinModel

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]

IMAGES = Path(os.environ.get("COMPUTEROUTER_TEST_IMAGES", "/var/cache/computerouter-images"))
TOKEN = "hermes-token"
MODEL_KEY = "sk-model-key-stamped-by-the-gateway"
ADDRESS = AgentAddress(sandbox_id="sb1", slug="support")


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[AgentRouter]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"the emulator backs sprites with local sessions: {', '.join(gaps)}")
    image = HermesImage(images_dir=IMAGES)
    image.ensure()
    target = image.runtime_image().target
    with socket.socket() as probe_port:  # the gateway's port, known to the emulator ahead
        probe_port.bind(("127.0.0.1", 0))
        gateway_port = probe_port.getsockname()[1]
    with StandinModel(api_key=MODEL_KEY) as model:
        world = World(
            root=tmp_path / "sprites",
            token=TOKEN,
            timings=Timings(speed=10.0),
            images=((str(image.path), target),),
            upstreams=(f"http://127.0.0.1:{gateway_port}",),
        )
        emulator = start(world)
        settings = Settings.load(
            env={"SPRITES_TOKEN": TOKEN, "COMPUTEROUTER_FLY_SPRITES_BASE_URL": emulator.url},
            home=tmp_path / "home",
            images_dir=str(IMAGES),
            model_base_url=model.base_url,
            model_api_key=MODEL_KEY,
            model_name="standin-model",
            gateway_listen=f"127.0.0.1:{gateway_port}",
            turn_timeout_s=60.0,
        )
        router = agent_router_for(open_router(settings))
        ledger = router.compute.credit_gate
        assert isinstance(ledger, Ledger)
        ledger.grant("alice", 1_000 * MICRO, note="fly_sprites Hermes test")
        router.create_agent(
            user_id="alice",
            address=ADDRESS,
            settings=ModelSettings(compute_provider="fly_sprites"),
            prompt="You are the support agent of an integration test.",
        )
        try:
            yield router
        finally:
            for session in router.compute.store.sessions.list():
                if session.state.value not in ("destroyed", "failed"):
                    router.compute.destroy(session.id)
            router.compute.store.close()
            emulator.stop()


def _turn(agents: AgentRouter, text: str) -> list[AgentEvent]:
    return list(agents.run(user_id="alice", address=ADDRESS, text=text).events())


def _output(events: list[AgentEvent]) -> str:
    last = events[-1]
    assert isinstance(last, RunCompleted), events[-3:]
    return last.output


def test_hermes_on_a_sprite_remembers_across_turns_a_suspend_and_an_archive(
    agents: AgentRouter,
) -> None:
    first = _turn(agents, "My name is Ada. Remember that the launch code is blue-42.")
    assert "stand-in" in _output(first)
    ready = first[0]
    assert isinstance(ready, SessionReady)
    session = agents.compute.get(ready.session_id)
    assert session.provider == "fly_sprites"
    assert session.instance_id is not None
    provider = agents.compute.provider("fly_sprites")
    env = provider.exec(session.instance_id, ["sh", "-c", "cat /proc/[0-9]*/environ"])
    assert "HERMES_HOME" in env.stdout
    assert MODEL_KEY not in env.stdout
    files = provider.exec(session.instance_id, ["grep", "-rlF", MODEL_KEY, "/workspace"])
    assert files.exit_code == 1, files.stdout

    second = _turn(agents, "What do you remember?")
    assert _output(second) == "I remember: Ada; the launch code is blue-42."

    agents.compute.suspend(ready.session_id, reason="test")
    after_suspend = _turn(agents, "What do you remember?")
    assert _output(after_suspend) == "I remember: Ada; the launch code is blue-42."

    agents.compute.archive(ready.session_id, reason="test")
    third = _turn(agents, "What do you remember?")
    assert _output(third) == "I remember: Ada; the launch code is blue-42."
