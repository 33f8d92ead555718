"""Acceptance: money is bounded and sessions follow the model configuration, with real Hermes
in real local sessions, through the bundled model stand-in.

- A run whose spend would pass its user's balance is stopped at the floor, with ``run.failed``
  code ``credit``: model calls (refused at the egress relay) and running time alike.
- Changing the model endpoint and key between two turns of a live session: the next turn uses
  the new endpoint; a bad endpoint's error names its URL (never the key), and the turn after a
  fix works again, without archiving anything.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hermes_world import IMAGES, MODEL_KEY, World, destroy_all, make_world

from computerouter.agents.factory import agent_router_for
from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.events import AgentEvent, RunCompleted, RunFailed
from computerouter.ledger import Ledger
from computerouter.providers.local import probe
from computerouter.standin import StandinModel

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]

OTHER_KEY = "sk-other-endpoint-2b9d7e41c6a35f80"


@pytest.fixture(autouse=True)
def _needs_isolation() -> None:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"Hermes integration needs root, bubblewrap and cgroups: {', '.join(gaps)}")


def billed_world(home: Path, model: StandinModel, prices: str, grant: int) -> World:
    home.mkdir(parents=True, exist_ok=True)
    (home / "prices.toml").write_text(prices)
    settings = Settings.load(
        env={},
        home=home,
        images_dir=str(IMAGES),
        model_base_url=model.base_url,
        model_api_key=MODEL_KEY,
        model_name="standin-model",
        turn_timeout_s=60.0,
    )
    agents = agent_router_for(open_router(settings))
    ledger = agents.compute.credit_gate
    assert isinstance(ledger, Ledger)
    ledger.grant("bob", grant)
    address = AgentAddress(sandbox_id="sb-bob", slug="spender")
    agents.create_agent(
        user_id="bob",
        address=address,
        settings=ModelSettings(compute_provider="local"),
        prompt="You are an agent with a small budget.",
    )
    return World(agents=agents, model=model, address=address, settings=settings)


def run_as(world: World, user: str, text: str) -> list[AgentEvent]:
    return list(world.agents.run(user_id=user, address=world.address, text=text).events())


@pytest.mark.parametrize(
    ("name", "prices", "text"),
    [
        # Each model call costs more than the balance: the relay refuses it outright.
        ("tokens", "[models.'*']\ninput_per_mtok = 200_000_000\noutput_per_mtok = 0\n", "Hi"),
        # The first call fits the hold; the tool's long output makes the second one too dear.
        (
            "second-call",
            "[models.'*']\ninput_per_mtok = 2_500_000\noutput_per_mtok = 0\n",
            "RUN: head -c 200000 /dev/zero | tr '\\0' a",
        ),
        # The model is slow and running time is dear: the hold runs out while it waits.
        ("time", "[compute.local]\ncpu_hour = 360_000_000\nmemory_gib_hour = 0\n", "SLOW hi"),
    ],
)
def test_a_run_that_would_pass_the_balance_is_stopped_at_the_floor(
    tmp_path: Path, name: str, prices: str, text: str
) -> None:
    with StandinModel(api_key=MODEL_KEY, slow_seconds=20.0) as model:
        world = billed_world(tmp_path / name, model, prices, grant=200_000)  # 0.2 credit
        try:
            ledger = world.agents.compute.credit_gate
            assert isinstance(ledger, Ledger)
            run = world.agents.run(user_id="bob", address=world.address, text=text)
            events = list(run.events())
            last = events[-1]
            assert isinstance(last, RunFailed), events
            assert last.code == "credit"
            assert "credit hold" in last.error
            account = ledger.account("bob")
            assert account.balance >= 0  # the floor
            assert account.reserved == 0
            bill = ledger.run_bill(run.run_id)
            assert bill.total <= 200_000
            if name == "second-call":
                # One call got through and is billed from the relay's meter (Hermes reports
                # usage only when a run completes); the next was refused before it went out.
                assert len([r for r in model.requests if r.get("tools")]) == 1
                assert bill.token is not None
                assert bill.token.amount > 0
        finally:
            destroy_all(world)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def two_models() -> Iterator[tuple[StandinModel, StandinModel]]:
    with StandinModel(api_key=MODEL_KEY) as first, StandinModel(api_key=OTHER_KEY) as second:
        yield first, second


def test_a_live_session_follows_the_model_endpoint_from_turn_to_turn(
    tmp_path: Path, two_models: tuple[StandinModel, StandinModel]
) -> None:
    first, second = two_models
    world = make_world(tmp_path / "home", first)

    def reconfigured(base_url: str, key: str) -> World:
        # What a new command sees after COMPUTEROUTER_MODEL_BASE_URL / _API_KEY changed.
        settings = Settings.load(
            env={},
            home=world.settings.home,
            images_dir=str(IMAGES),
            model_base_url=base_url,
            model_api_key=key,
            model_name="standin-model",
            turn_timeout_s=60.0,
        )
        agents = agent_router_for(open_router(settings))
        return World(agents=agents, model=first, address=world.address, settings=settings)

    try:
        one = run_as(world, "alice", "Hello there")
        assert isinstance(one[-1], RunCompleted), one
        on_first = len(first.requests)
        assert on_first > 0
        session = world.agents.compute.store.sessions.list()[0]

        moved = reconfigured(second.base_url, OTHER_KEY)
        two = run_as(moved, "alice", "Hello again")
        assert isinstance(two[-1], RunCompleted), two
        assert len(second.requests) > 0  # the new endpoint, with its own key
        assert len(first.requests) == on_first  # and nothing more to the old one
        assert moved.agents.compute.store.sessions.list()[0].id == session.id  # same session

        bad_url = f"http://127.0.0.1:{free_port()}/v1"
        broken = reconfigured(bad_url, OTHER_KEY)
        three = run_as(broken, "alice", "Are you there?")
        failed = three[-1]
        assert isinstance(failed, RunFailed), three
        assert bad_url in failed.error
        assert OTHER_KEY not in failed.error

        fixed = reconfigured(second.base_url, OTHER_KEY)
        seen = len(second.requests)
        four = run_as(fixed, "alice", "Back again")
        assert isinstance(four[-1], RunCompleted), four
        assert len(second.requests) > seen
        assert fixed.agents.compute.store.sessions.list()[0].id == session.id
    finally:
        destroy_all(world)
