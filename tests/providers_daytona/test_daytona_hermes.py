"""A real Hermes turn on the daytona provider, through the emulator and the model stand-in.

The sandbox's only way out is the router's remote gateway, which stamps the model's key (the
stand-in refuses calls without it); the key is nowhere in the sandbox."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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
MODEL_KEY = "sk-model-key-stamped-by-the-gateway"


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[AgentRouter]:
    if probe().gaps():
        pytest.skip("the emulator backs sandboxes with local sessions")
    hermes = HermesImage(images_dir=IMAGES)
    hermes.ensure()
    image = hermes.runtime_image()
    emulated = EmulatorSettings(
        timings=Timings(speed=100.0), images=((image.ref, str(hermes.path), image.target),)
    )
    with (
        StandinModel(api_key=MODEL_KEY) as model,
        EmulatorServer(root=tmp_path / "emulator", settings=emulated) as emulator,
    ):
        settings = Settings.load(
            env={
                "COMPUTEROUTER_DAYTONA_API_URL": emulator.api_url,
                "COMPUTEROUTER_DAYTONA_API_KEY": emulated.api_key,
                "COMPUTEROUTER_DAYTONA_TARGET": "us",
            },
            home=tmp_path / "home",
            images_dir=str(IMAGES),
            model_base_url=model.base_url,
            model_api_key=MODEL_KEY,
            model_name="standin-model",
            turn_timeout_s=60.0,
        )
        router = agent_router_for(open_router(settings))
        ledger = router.compute.credit_gate
        assert isinstance(ledger, Ledger)
        ledger.grant("alice", 1_000 * MICRO, note="daytona hermes test")
        router.create_agent(
            user_id="alice",
            address=ADDRESS,
            settings=ModelSettings(compute_provider="daytona"),
            prompt="You are the support agent of a Daytona test.",
        )
        try:
            yield router
        finally:
            for session in router.compute.store.sessions.list():
                if session.state.value not in ("destroyed", "failed"):
                    router.compute.destroy(session.id)
            router.compute.store.close()
            assert emulator.emulator.unimplemented == []


def _turn(agents: AgentRouter, text: str) -> list[AgentEvent]:
    return list(agents.run(user_id="alice", address=ADDRESS, text=text).events())


def test_two_hermes_turns_on_daytona_remember_each_other(agents: AgentRouter) -> None:
    first = _turn(agents, "My name is Ada. Remember that the launch code is blue-42.")
    assert isinstance(first[0], SessionReady)
    assert isinstance(first[-1], RunCompleted), first[-3:]
    assert "stand-in" in first[-1].output

    second = _turn(agents, "What do you remember?")

    assert isinstance(second[-1], RunCompleted), second[-3:]
    assert second[-1].output == "I remember: Ada; the launch code is blue-42."
    assert isinstance(second[0], SessionReady)
    assert second[0].session_id == first[0].session_id
    session = agents.compute.get(first[0].session_id)
    assert session.provider == "daytona"
    assert session.instance_id is not None
    provider = agents.compute.provider("daytona")
    env = provider.exec(session.instance_id, ["sh", "-c", "cat /proc/[0-9]*/environ"])
    assert "HERMES_HOME" in env.stdout
    assert MODEL_KEY not in env.stdout
    files = provider.exec(session.instance_id, ["grep", "-rlF", MODEL_KEY, "/workspace"])
    assert files.exit_code == 1, files.stdout


def test_a_turn_after_stop_and_after_archive_resumes_with_its_memory(agents: AgentRouter) -> None:
    first = _turn(agents, "My name is Ada. Remember that the launch code is blue-42.")
    assert isinstance(first[0], SessionReady)
    session_id = first[0].session_id
    compute = agents.compute

    compute.suspend(session_id)
    assert compute.get(session_id).state.value == "suspended"
    after_stop = _turn(agents, "What do you remember?")
    assert isinstance(after_stop[-1], RunCompleted), after_stop[-3:]
    assert after_stop[-1].output == "I remember: Ada; the launch code is blue-42."

    compute.archive(session_id)
    assert compute.get(session_id).state.value == "archived"
    after_archive = _turn(agents, "What do you remember?")
    assert isinstance(after_archive[-1], RunCompleted), after_archive[-3:]
    assert after_archive[-1].output == "I remember: Ada; the launch code is blue-42."
