"""What the Hermes integration tests share: a world (an agent router on real local sessions
with a model stand-in) and its constants. A module of its own name, not ``conftest``, so a test
importing it never picks up another directory's ``conftest`` (pytest loads several)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from computerouter.agents.factory import agent_router_for
from computerouter.agents.router import AgentRouter
from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.ledger import MICRO, Ledger
from computerouter.standin import StandinModel

__all__ = ["IMAGES", "MODEL_KEY", "World", "destroy_all", "make_world"]

MODEL_KEY = "sk-model-secret-7f3a9c1e5b2d4068"
IMAGES = Path(os.environ.get("COMPUTEROUTER_TEST_IMAGES", "/var/cache/computerouter-images"))


@dataclass(kw_only=True)
class World:
    agents: AgentRouter
    model: StandinModel
    address: AgentAddress
    settings: Settings


def make_world(
    home: Path,
    model: StandinModel,
    base_url: str | None = None,
    env: dict[str, str] | None = None,
    **overrides: str,
) -> World:
    settings = Settings.load(
        env=env or {},
        home=home,
        images_dir=str(IMAGES),
        model_base_url=base_url or model.base_url,
        model_api_key=MODEL_KEY,
        model_name="standin-model",
        turn_timeout_s=60.0,
        **overrides,
    )
    agents = agent_router_for(open_router(settings))
    ledger = agents.compute.credit_gate
    assert isinstance(ledger, Ledger)
    ledger.grant("alice", 1_000 * MICRO, note="integration tests")
    address = AgentAddress(sandbox_id="sb1", slug="support")
    agents.create_agent(
        user_id="alice",
        address=address,
        settings=ModelSettings(compute_provider="local"),
        prompt="You are the support agent of an integration test.",
    )
    return World(agents=agents, model=model, address=address, settings=settings)


def destroy_all(world: World) -> None:
    compute = world.agents.compute
    for session in compute.store.sessions.list():
        if session.state.value not in ("destroyed", "failed"):
            compute.destroy(session.id)
    compute.store.close()
