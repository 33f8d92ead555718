"""Runs land where placement says: the cost-aware order follows the price file, fail-over walks
the placed order with each candidate's own region, a full provider spills, and a region pin is
refused rather than violated. Toy providers are registered from the test, backed by
FakeProvider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from computerouter.agents.router import AgentRouter
from computerouter.compute.offers import placement
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.events import SessionReady
from computerouter.errors import ProviderUnavailable
from computerouter.store import Store
from computerouter.store.agents import AgentStore
from computerouter.testing import FakeAgentRuntime, FakeClock, FakeProvider
from computerouter.testing.toys import toy_provider, toy_providers

ADDR = AgentAddress(sandbox_id="sb1", slug="support")


@pytest.fixture
def built() -> Iterator[dict[str, FakeProvider]]:
    made: dict[str, FakeProvider] = {}
    with toy_providers(
        toy_provider(
            "toyfast", regions=("us", "eu"), warm_start_ms=50, cpu_hour=20_000, built=made
        ),
        toy_provider(
            "toycheap",
            regions=("iad", "ams"),
            warm_start_ms=900,
            cpu_hour=5_000,
            max_sessions=1,
            built=made,
        ),
    ):
        yield made


@pytest.fixture
def agents(
    store: Store, tmp_path: Path, clock: FakeClock, built: dict[str, FakeProvider]
) -> AgentRouter:
    settings = Settings.load(env={}, home=tmp_path, wait_timeout_s=20.0, region="fra")
    providers = {name: FakeProvider(name) for name in ("toyfast", "toycheap")}
    built.update(providers)
    compute = ComputeRouter(
        store=store,
        providers=providers,
        runtimes={"hermes": FakeAgentRuntime()},
        settings=settings,
        clock=clock,
    )
    return AgentRouter(compute=compute, agents=AgentStore(store.engine))


def make(agents: AgentRouter, settings: ModelSettings, slug: str = "support") -> AgentAddress:
    where = AgentAddress(sandbox_id=f"sb-{slug}", slug=slug)
    agents.create_agent(user_id="alice", address=where, settings=settings, prompt="hi")
    return where


def ready(agents: AgentRouter, where: AgentAddress) -> SessionReady:
    events = list(agents.run(user_id="alice", address=where, text="hello").events())
    first = events[0]
    assert isinstance(first, SessionReady)
    return first


def test_cost_aware_runs_follow_the_price_file(agents: AgentRouter, tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text("[compute.toyfast]\ncpu_hour = 9_000\n[compute.toycheap]\ncpu_hour = 1_000\n")
    first = make(agents, ModelSettings(compute_policy="cost-aware"), "one")
    assert ready(agents, first).provider == "toycheap"
    prices.write_text("[compute.toyfast]\ncpu_hour = 1_000\n[compute.toycheap]\ncpu_hour = 9_000\n")
    second = make(agents, ModelSettings(compute_policy="cost-aware"), "two")
    assert ready(agents, second).provider == "toyfast"


def test_the_session_is_made_in_the_nearest_region(agents: AgentRouter) -> None:
    where = make(agents, ModelSettings())
    session = agents.compute.get(ready(agents, where).session_id)
    assert (session.provider, session.region) == ("toyfast", "eu")


def test_fail_over_walks_the_placed_order_each_in_its_region(
    agents: AgentRouter, built: dict[str, FakeProvider]
) -> None:
    built["toyfast"].fail_next["create"] = ProviderUnavailable(
        "degraded", provider="toyfast", retryable=True
    )
    where = make(agents, ModelSettings())
    session = agents.compute.get(ready(agents, where).session_id)
    assert (session.provider, session.region) == ("toycheap", "ams")
    circuit = agents.compute.health.store.get("toyfast", "eu")
    assert circuit is not None
    assert circuit.state == "open"
    # The next placement drops it while it cools down, and says so.
    placed = placement(agents.compute, ModelSettings())
    assert "toyfast" not in placed.providers
    assert "cooling down" in next(d.reason for d in placed.dropped if d.provider == "toyfast")


def test_a_full_provider_spills_to_the_next(agents: AgentRouter) -> None:
    cost = ModelSettings(compute_policy="cost-aware")
    assert ready(agents, make(agents, cost, "one")).provider == "toycheap"
    assert ready(agents, make(agents, cost, "two")).provider == "toyfast"  # toycheap: 1 of 1


def test_a_region_pin_no_provider_serves_is_refused(agents: AgentRouter) -> None:
    where = make(agents, ModelSettings(compute_region="syd"))
    with pytest.raises(ProviderUnavailable, match="pinned to region 'syd'"):
        agents.run(user_id="alice", address=where, text="hello")
    assert agents.compute.store.sessions.list() == []


def test_a_region_pin_is_honoured(agents: AgentRouter) -> None:
    where = make(agents, ModelSettings(compute_region="iad"))
    session = agents.compute.get(ready(agents, where).session_id)
    assert (session.provider, session.region) == ("toycheap", "iad")
