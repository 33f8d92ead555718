from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from computerouter.agents.router import AgentRouter
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.events import (
    ApprovalRequested,
    ApprovalResolved,
    MessageDelta,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    SessionReady,
    ToolStarted,
    Usage,
)
from computerouter.domain.states import SessionState
from computerouter.errors import (
    Conflict,
    InputError,
    NotFound,
    ProviderUnavailable,
)
from computerouter.providers.base import Capabilities
from computerouter.providers.registration import (
    ListPrice,
    ProviderRegistration,
    register,
    unregister,
)
from computerouter.store import Store
from computerouter.store.agents import AgentStore
from computerouter.testing import FakeAgentRuntime, FakeClock, FakeProvider
from computerouter.testing.agent_fakes import FakeTurn

ADDR = AgentAddress(sandbox_id="sb1", slug="support")


@pytest.fixture
def toy_provider() -> Iterator[str]:
    """A provider registered for this test only, and never configured."""
    record = ProviderRegistration(
        name="toy_unconfigured",
        summary="a provider this router is not configured for",
        settings_model=ToySettings,
        build=lambda settings, own: FakeProvider("toy_unconfigured"),
        configured=lambda own: "set COMPUTEROUTER_TOY_UNCONFIGURED_TOKEN",
        capabilities=Capabilities(suspend=True, archive=True, exec=False),
        list_price=ListPrice(cpu_hour=1, memory_gib_hour=1),
    )
    register(record)
    yield record.name
    unregister(record.name)


@dataclass(frozen=True)
class ToySettings:
    token: str = ""


@pytest.fixture
def runtime() -> FakeAgentRuntime:  # type: ignore[override]
    return FakeAgentRuntime()


@pytest.fixture
def agents(
    store: Store, settings: Settings, clock: FakeClock, runtime: FakeAgentRuntime
) -> AgentRouter:
    compute = ComputeRouter(
        store=store,
        providers={"local": FakeProvider("local")},
        runtimes={"hermes": runtime},
        settings=settings,
        clock=clock,
    )
    router = AgentRouter(compute=compute, agents=AgentStore(store.engine))
    router.create_agent(
        user_id="alice", address=ADDR, settings=ModelSettings(), prompt="You are support."
    )
    return router


def test_two_turns_share_a_session_and_a_conversation(
    agents: AgentRouter, runtime: FakeAgentRuntime
) -> None:
    first = list(agents.run(user_id="alice", address=ADDR, text="my name is Ada").events())
    second = list(agents.run(user_id="alice", address=ADDR, text="what is my name").events())
    assert isinstance(first[0], SessionReady)
    assert first[0].how == "created"
    assert isinstance(second[0], SessionReady)
    assert second[0].how == "already running"
    assert isinstance(first[1], RunStarted)
    assert first[1].session_id == second[1].session_id  # type: ignore[union-attr]
    assert isinstance(second[-1], RunCompleted)
    assert "(turn 2)" in second[-1].output
    assert len(runtime.conversations) == 1


def test_every_event_carries_attribution(agents: AgentRouter) -> None:
    run = agents.run(user_id="alice", address=ADDR, text="TOOL please")
    events = list(run.events())
    agent = agents.resolve("alice", ADDR)
    assert {type(e) for e in events} >= {MessageDelta, ToolStarted, Usage, RunCompleted}
    for index, event in enumerate(events, start=1):
        assert event.run_id == run.run_id
        assert event.agent_id == agent.id
        assert (event.user_id, event.sandbox_id) == ("alice", "sb1")
        assert event.seq == index
        assert event.to_dict()["type"] == event.type


def test_session_is_busy_during_the_turn_and_idle_clock_restarts(
    agents: AgentRouter, clock: FakeClock
) -> None:
    run = agents.run(user_id="alice", address=ADDR, text="hello")
    stream = run.events()
    ready = next(stream)
    assert isinstance(ready, SessionReady)
    with pytest.raises(Conflict, match="run in flight"):
        agents.compute.suspend(ready.session_id)
    clock.advance(60)
    list(stream)
    session = agents.compute.get(ready.session_id)
    assert session.last_active_at == clock.now()
    assert agents.compute.store.runs.get(run.run_id).state == "completed"  # type: ignore[union-attr]


def test_suspended_session_resumes_for_the_next_turn(agents: AgentRouter) -> None:
    events = list(agents.run(user_id="alice", address=ADDR, text="one").events())
    session_id = events[0].session_id  # type: ignore[attr-defined]
    agents.compute.suspend(session_id)
    again = list(agents.run(user_id="alice", address=ADDR, text="two").events())
    assert again[0].how == "resumed"  # type: ignore[attr-defined]
    assert agents.compute.get(session_id).state is SessionState.RUNNING


def test_approval_round_trip(agents: AgentRouter) -> None:
    run = agents.run(user_id="alice", address=ADDR, text="DANGER zone")
    seen = []
    for event in run.events():
        seen.append(event)
        if isinstance(event, ApprovalRequested):
            run.respond_approval("deny")
    resolved = [e for e in seen if isinstance(e, ApprovalResolved)]
    assert [e.choice for e in resolved] == ["deny"]


def test_cancel_from_another_thread(agents: AgentRouter) -> None:
    run = agents.run(user_id="alice", address=ADDR, text="HANG")
    timer = threading.Timer(0.2, run.cancel)
    timer.start()
    events = list(run.events())
    assert isinstance(events[-1], RunCancelled)
    assert agents.compute.store.runs.get(run.run_id).state == "cancelled"  # type: ignore[union-attr]


def test_failed_turn_marks_run_failed_and_session_stays_usable(agents: AgentRouter) -> None:
    run = agents.run(user_id="alice", address=ADDR, text="FAIL now")
    events = list(run.events())
    assert isinstance(events[-1], RunFailed)
    assert agents.compute.store.runs.get(run.run_id).state == "failed"  # type: ignore[union-attr]
    after = list(agents.run(user_id="alice", address=ADDR, text="still there?").events())
    assert isinstance(after[-1], RunCompleted)


# -- bad input: one clear error, nothing created ----------------------------------------------


def test_unknown_address(agents: AgentRouter) -> None:
    with pytest.raises(NotFound, match="no agent sb1/nobody"):
        agents.run(
            user_id="alice", address=AgentAddress(sandbox_id="sb1", slug="nobody"), text="hi"
        )
    assert agents.compute.store.sessions.list() == []


def test_other_users_agent_is_not_found(agents: AgentRouter) -> None:
    with pytest.raises(NotFound):
        agents.run(user_id="mallory", address=ADDR, text="hi")


def test_empty_input(agents: AgentRouter) -> None:
    with pytest.raises(InputError, match="input is empty"):
        agents.run(user_id="alice", address=ADDR, text="   ")
    assert agents.compute.store.sessions.list() == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"backend": "gpt-agent"}, "unknown backend 'gpt-agent'"),
        ({"compute_provider": "AWS!"}, "unknown compute provider 'AWS!'"),
        ({"compute_policy": "cheapest"}, "unknown compute policy 'cheapest'"),
        ({"compute_provider": "local", "compute_policy": "cost-aware"}, "not both"),
    ],
)
def test_bad_model_settings(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        ModelSettings(**fields)


def test_provider_not_offered_is_accepted_on_the_row_and_refused_at_run(
    agents: AgentRouter, toy_provider: str
) -> None:
    address = AgentAddress(sandbox_id="sb1", slug="fast")
    agents.create_agent(
        user_id="alice",
        address=address,
        settings=ModelSettings(compute_provider=toy_provider),
        prompt="p",
    )
    with pytest.raises(ProviderUnavailable, match=toy_provider):
        agents.run(user_id="alice", address=address, text="hi")
    assert agents.compute.store.sessions.list() == []


def test_a_pin_to_a_provider_nobody_registered_is_refused_on_the_row(agents: AgentRouter) -> None:
    address = AgentAddress(sandbox_id="sb1", slug="fast")
    with pytest.raises(InputError, match="unknown compute provider 'aws' \\(known: local"):
        agents.create_agent(
            user_id="alice",
            address=address,
            settings=ModelSettings(compute_provider="aws"),
            prompt="p",
        )
    with pytest.raises(NotFound):
        agents.resolve("alice", address)


def test_vendor_backend_never_reaches_compute(agents: AgentRouter) -> None:
    address = AgentAddress(sandbox_id="sb1", slug="claude")
    agents.create_agent(
        user_id="alice", address=address, settings=ModelSettings(backend="anthropic"), prompt="p"
    )
    with pytest.raises(InputError, match="vendor-managed"):
        agents.run(user_id="alice", address=address, text="hi")
    assert agents.compute.store.sessions.list() == []


def test_duplicate_and_bad_slugs(agents: AgentRouter) -> None:
    with pytest.raises(Conflict, match="already exists"):
        agents.create_agent(user_id="alice", address=ADDR, settings=ModelSettings(), prompt="p")
    with pytest.raises(InputError, match="slug"):
        AgentAddress.parse("sb1/Not_A_Slug")
    with pytest.raises(InputError, match="SANDBOX/SLUG"):
        AgentAddress.parse("support")


def test_address_parsing(tmp_path: Path) -> None:
    assert AgentAddress.parse("sb1/support") == ADDR
    assert AgentAddress.parse("support", default_sandbox="sb1") == ADDR
    assert str(ADDR) == "sb1/support"


def test_abandoning_the_event_stream_cancels_the_turn(
    agents: AgentRouter, runtime: FakeAgentRuntime
) -> None:
    run = agents.run(user_id="alice", address=ADDR, text="DANGER then stop listening")
    stream = run.events()
    for event in stream:
        if isinstance(event, ApprovalRequested):
            break
    stream.close()  # the client went away
    [turn] = runtime.turns
    assert turn.cancelled
    assert agents.compute.store.runs.get(run.run_id).state == "cancelled"  # type: ignore[union-attr]


def test_a_cancel_while_the_turn_is_being_started_still_stops_it(
    agents: AgentRouter, runtime: FakeAgentRuntime
) -> None:
    run = agents.run(user_id="alice", address=ADDR, text="HANG")
    start = runtime.start_turn

    def start_then_cancel(*args: Any) -> FakeTurn:
        turn = start(*args)
        run.cancel()  # after the router's last check, before it holds the turn
        return turn

    runtime.start_turn = start_then_cancel  # type: ignore[method-assign]
    events = list(run.events())
    assert isinstance(events[-1], RunCancelled)
    assert [turn.cancelled for turn in runtime.turns] == [True]
