"""Real Hermes on the emulated Daytona, through the model stand-in: one agent of alice's (its
settings given), credit granted; every session destroyed at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from computerouter.agents.factory import agent_router_for
from computerouter.agents.router import AgentRouter
from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.emulators.daytona import EmulatorServer, EmulatorSettings, Timings
from computerouter.ledger import MICRO, Ledger
from computerouter.providers.local import probe
from computerouter.runtimes.hermes.image import HermesImage
from computerouter.standin import StandinModel

__all__ = ["ADDRESS", "IMAGES", "hermes_on_daytona"]

IMAGES = Path(os.environ.get("COMPUTEROUTER_TEST_IMAGES", "/var/cache/computerouter-images"))
ADDRESS = AgentAddress(sandbox_id="sb1", slug="support")


@contextmanager
def hermes_on_daytona(
    root: Path,
    *,
    agent: ModelSettings,
    prompt: str,
    model_key: str | None,
    prices: str = "",
    **settings: object,
) -> Iterator[tuple[AgentRouter, EmulatorServer]]:
    """The router (home ``root/home``, ``prices`` as its price file when given) and the
    emulator; ``settings`` are more of the router's settings."""
    if probe().gaps():
        pytest.skip("the emulator backs sandboxes with local sessions")
    hermes = HermesImage(images_dir=IMAGES)
    hermes.ensure()
    image = hermes.runtime_image()
    emulated = EmulatorSettings(
        timings=Timings(speed=100.0), images=((image.ref, str(hermes.path), image.target),)
    )
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    if prices:
        (home / "prices.toml").write_text(prices)
    with (
        StandinModel(api_key=model_key) as model,
        EmulatorServer(root=root / "emulator", settings=emulated) as emulator,
    ):
        loaded = Settings.load(
            env={
                "COMPUTEROUTER_DAYTONA_API_URL": emulator.api_url,
                "COMPUTEROUTER_DAYTONA_API_KEY": emulated.api_key,
                "COMPUTEROUTER_DAYTONA_TARGET": "us",
            },
            home=home,
            images_dir=str(IMAGES),
            model_base_url=model.base_url,
            model_api_key=model_key or "",
            model_name="standin-model",
            turn_timeout_s=60.0,
            **settings,
        )
        agents = agent_router_for(open_router(loaded))
        ledger = agents.compute.credit_gate
        assert isinstance(ledger, Ledger)
        ledger.grant("alice", 1_000 * MICRO, note="hermes on daytona")
        agents.create_agent(user_id="alice", address=ADDRESS, settings=agent, prompt=prompt)
        try:
            yield agents, emulator
        finally:
            for session in agents.compute.store.sessions.list():
                if session.state.value not in ("destroyed", "failed"):
                    agents.compute.destroy(session.id)
            agents.compute.store.close()
