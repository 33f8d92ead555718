"""Acceptance (the Concierge): the seed's three requests, asked in plain language through the
API, run offline through real Hermes with the stand-in playing the Concierge, on a session of
its own like any agent: it creates the agent with the cost-aware policy, lists the caller's
sessions, and pauses the caller's Hermes agents on Daytona while the one on Sprites keeps
running (both providers emulated, Hermes really running in each) -- all checked through the
API afterwards, each request billed as a run. It asks before anything destructive unless
told yes, acts only as its caller, and its token is worth nothing outside its own run."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hermes_world import IMAGES, World, destroy_all

from computerouter.agents.factory import agent_router_for
from computerouter.api import create_app
from computerouter.cli.demo_emulated import emulated
from computerouter.client import Client, RetryPolicy
from computerouter.compute.factory import open_router
from computerouter.concierge import Concierge
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.events import AgentEvent, RunCompleted, ToolStarted
from computerouter.domain.values import SessionKey
from computerouter.ledger import MICRO, Ledger
from computerouter.loopback import LoopbackServer
from computerouter.providers.local import probe
from computerouter.runtimes.hermes import HermesImage
from computerouter.secrets.api_keys import ApiKeys
from computerouter.standin import StandinModel
from computerouter.store.api_keys import ApiKeyStore
from computerouter.testing.environment import child_env

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]

TOOL = "mcp__computerouter__"
ON_DAYTONA = AgentAddress(sandbox_id="sb-daytona", slug="worker")
ON_SPRITES = AgentAddress(sandbox_id="sb-sprites", slug="worker")


@dataclass(kw_only=True)
class Place:
    world: World
    url: str
    alice: Client
    bob: Client
    alice_key: str
    daytona_session: str
    sprites_session: str


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Place]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"the Concierge needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    HermesImage(images_dir=IMAGES).ensure()
    home = tmp_path_factory.mktemp("concierge-home")
    with ExitStack() as stack:
        model = stack.enter_context(StandinModel())
        first = Settings.load(
            env={}, home=home, images_dir=str(IMAGES), model_base_url=model.base_url
        )
        env = stack.enter_context(emulated("daytona", first))
        env |= stack.enter_context(emulated("fly_sprites", first))
        # No model key: a remote sandbox cannot be handed a route that adds one host-side.
        settings = Settings.load(
            env=env,
            home=home,
            images_dir=str(IMAGES),
            model_base_url=model.base_url,
            model_name="standin-model",
            turn_timeout_s=60.0,
        )
        agents = agent_router_for(open_router(settings))
        world = World(agents=agents, model=model, address=ON_DAYTONA, settings=settings)
        stack.callback(destroy_all, world)
        ledger = agents.compute.credit_gate
        assert isinstance(ledger, Ledger)
        for user in ("alice", "bob"):
            ledger.grant(user, 1_000 * MICRO, note="concierge tests")
        for address, provider in ((ON_DAYTONA, "daytona"), (ON_SPRITES, "fly_sprites")):
            agents.create_agent(
                user_id="alice",
                address=address,
                settings=ModelSettings(compute_provider=provider),
                prompt="You are a worker.",
            )
        sessions = {}
        for address in (ON_DAYTONA, ON_SPRITES):
            run = agents.run(user_id="alice", address=address, text="hello")
            events = list(run.events())
            assert isinstance(events[-1], RunCompleted), events[-3:]
            found = agents.compute.store.sessions.find_live(
                SessionKey(user_id="alice", sandbox_id=address.sandbox_id)
            )
            assert found is not None
            sessions[address.sandbox_id] = found.id
        keys = ApiKeys(
            ApiKeyStore(agents.compute.store.engine), pepper=world.settings.api_key_pepper
        )
        _, alice_key = keys.create("alice")
        _, bob_key = keys.create("bob")
        servers: list[LoopbackServer] = []
        concierge = Concierge(agents, api_url=lambda: servers[0].url)
        stack.callback(concierge.close)
        servers.append(
            LoopbackServer(
                create_app(agents=agents, settings=world.settings, keys=keys, concierge=concierge),
                name="API",
            )
        )
        url = servers[0].start()
        stack.callback(servers[0].stop)
        once = RetryPolicy(attempts=1)
        alice = stack.enter_context(Client(url, alice_key, retries=once))
        bob = stack.enter_context(Client(url, bob_key, retries=once))
        yield Place(
            world=world,
            url=url,
            alice=alice,
            bob=bob,
            alice_key=alice_key,
            daytona_session=sessions[ON_DAYTONA.sandbox_id],
            sprites_session=sessions[ON_SPRITES.sandbox_id],
        )


def ask(client: Client, text: str, *, yes: bool = False) -> tuple[str, list[AgentEvent]]:
    """One request through ``POST /v1/concierge``, followed to its end over SSE."""
    started = client.concierge.ask(text, yes=yes)
    events = list(client.runs.events(started.run_id))
    last = events[-1]
    assert isinstance(last, RunCompleted), events[-3:]
    assert "stand-in model playing the Concierge" in last.output  # labelled as such
    return started.run_id, events


def tools(events: list[AgentEvent]) -> list[str]:
    return [e.tool.removeprefix(TOOL) for e in events if isinstance(e, ToolStarted)]


def test_the_seeds_three_requests_are_carried_out_and_billed(place: Place) -> None:
    alice = place.alice
    made, events = ask(alice, "Create a Hermes agent that runs on the cheapest compute available.")
    assert tools(events) == ["agents_create"]
    agent = alice.agents.get("agents", "hermes")
    assert agent.model_settings.backend == "hermes"
    assert agent.model_settings.compute_policy == "cost-aware"
    assert agent.model_settings.compute_provider is None

    listed, events = ask(alice, "Show me my active compute sessions.")
    assert tools(events) == ["sessions_list"]
    answer = events[-1]
    assert isinstance(answer, RunCompleted)
    for session in alice.compute.sessions.list():
        assert session.id in answer.output, (session.id, answer.output)
    assert place.daytona_session in answer.output
    assert place.sprites_session in answer.output

    paused, events = ask(alice, "Pause my Hermes agents on Daytona — keep Sprites running.")
    assert tools(events) == ["sessions_list", "sessions_suspend"]
    assert alice.compute.sessions.get(place.daytona_session).state == "suspended"
    assert alice.compute.sessions.get(place.sprites_session).state == "running"
    concierge = alice.agents.get("concierge", "concierge")
    assert concierge.model_settings.backend == "concierge"

    # Each request is a run of the Concierge agent, on a session of its own, billed with its
    # two ledger entries like any run.
    for run_id in (made, listed, paused):
        bill = alice.usage.run(run_id)
        assert bill.token is not None, bill
        assert bill.compute is not None, bill
        assert bill.total_micro > 0
        assert alice.runs.get(run_id).agent_id == concierge.id
    own = [s for s in alice.compute.sessions.list() if s.sandbox_id == "concierge"]
    assert [s.provider for s in own] == ["local"]


def test_it_asks_before_destroying_unless_told_yes(place: Place) -> None:
    alice = place.alice
    target = place.daytona_session
    _, events = ask(alice, f"Destroy session {target}.")
    assert tools(events) == ["sessions_destroy"]
    answer = events[-1]
    assert isinstance(answer, RunCompleted)
    assert "did nothing" in answer.output
    assert "--yes" in answer.output
    assert alice.compute.sessions.get(target).state == "suspended"  # untouched

    _, events = ask(alice, f"Destroy session {target}.", yes=True)
    assert tools(events) == ["sessions_destroy"]
    assert alice.compute.sessions.get(target).state == "destroyed"


def test_it_acts_only_as_its_caller(place: Place) -> None:
    _, events = ask(place.bob, "Show me my active compute sessions.")
    answer = events[-1]
    assert isinstance(answer, RunCompleted)
    assert place.sprites_session not in answer.output
    bob_sessions = place.bob.compute.sessions.list()
    assert [s.sandbox_id for s in bob_sessions] == ["concierge"]
    assert bob_sessions[0].id in answer.output

    # Told yes, bob's Concierge still cannot reach alice's session: it is not found.
    _, events = ask(place.bob, f"Destroy session {place.sprites_session}.", yes=True)
    answer = events[-1]
    assert isinstance(answer, RunCompleted)
    assert "could not destroy" in answer.output
    assert "not_found" in answer.output
    assert place.alice.compute.sessions.get(place.sprites_session).state == "running"


def test_a_run_token_is_worth_nothing_outside_its_concierge_run(place: Place) -> None:
    world = place.world
    tokens = world.agents.run_tokens
    issued: list[str] = []
    plain_issue = tokens.issue

    def recording(**kwargs: object) -> tuple[object, str]:
        token, plaintext = plain_issue(**kwargs)  # type: ignore[arg-type]
        issued.append(plaintext)
        return token, plaintext

    tokens.issue = recording  # type: ignore[method-assign,assignment]
    try:
        ask(place.alice, "Show me my active compute sessions.")
        on_local = AgentAddress(sandbox_id="sb-local", slug="worker")
        world.agents.create_agent(
            user_id="alice",
            address=on_local,
            settings=ModelSettings(compute_provider="local"),
            prompt="You are a worker.",
        )
        run = world.agents.run(user_id="alice", address=on_local, text="hello")
        assert isinstance(list(run.events())[-1], RunCompleted)
    finally:
        del tokens.issue
    assert len(issued) == 2
    operator, host = issued
    for token in (operator, host):
        # The Concierge run has ended; a worker's token is for the MCP host only.
        response = httpx.get(
            f"{place.url}/v1/compute/sessions", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthorized"


def test_the_cli_asks_the_servers_concierge(place: Place) -> None:
    env = child_env()
    env |= {"COMPUTEROUTER_URL": place.url, "COMPUTEROUTER_API_KEY": place.alice_key}
    done = subprocess.run(
        [sys.executable, "-m", "computerouter", "concierge", "Show me my active compute sessions."],
        env=env | {"COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"{TOOL}sessions_list" in done.stdout
    assert place.sprites_session in done.stdout
    assert "run completed" in done.stdout


def test_the_cli_embedded_serves_what_its_concierge_needs(tmp_path: Path) -> None:
    if probe().gaps():
        pytest.skip("the Concierge needs root, bubblewrap and cgroups")
    env = child_env()
    env |= {
        "COMPUTEROUTER_HOME": str(tmp_path / "home"),
        "COMPUTEROUTER_IMAGES_DIR": str(IMAGES),
        "COMPUTEROUTER_LIFECYCLE_DAEMON": "false",
        "COLUMNS": "200",
    }
    cli = [sys.executable, "-m", "computerouter"]
    granted = subprocess.run(
        [*cli, "credits", "grant", "--user", "local", "5", "--note", "test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert granted.returncode == 0, granted.stderr
    try:
        done = subprocess.run(
            [*cli, "concierge", "Show me my active compute sessions."],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "1 active compute session(s)" in done.stdout
        assert "sandbox concierge, concierge, running on local" in done.stdout
        assert "HTTP Request" not in done.stdout + done.stderr  # no library chatter
        empty = subprocess.run(
            [*cli, "concierge", "   "],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert empty.returncode == 2
        assert empty.stderr.strip() == "error: the request is empty; tell the Concierge what to do"
    finally:
        settings = Settings.load(env={}, home=tmp_path / "home")
        router = open_router(settings)
        for session in router.store.sessions.list():
            if session.state.value not in ("destroyed", "failed"):
                router.destroy(session.id)
        router.store.close()
