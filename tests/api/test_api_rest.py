"""Acceptance (REST + SDK): agents, runs with typed events, approvals, cancel, compute
sessions by sandbox and agent slug, usage and credits, against a live server."""

from __future__ import annotations

import threading

import httpx
import pytest

from computerouter.domain.events import (
    ApprovalRequested,
    ApprovalResolved,
    MessageDelta,
    RunCancelled,
    RunCompleted,
    RunStarted,
    SessionReady,
    ToolStarted,
)
from computerouter.errors import (
    Conflict,
    Forbidden,
    InputError,
    InsufficientCredit,
    InvalidTransition,
    Paused,
)
from computerouter.store.agents import AgentNotFound
from computerouter.testing.live_api import Api


def test_agents_create_list_show_update_delete(api: Api) -> None:
    client = api.client(api.alice)
    made = client.agents.create(
        "sb1", slug="support", model_settings={"compute_policy": "cost-aware"}, prompt="Be kind."
    )
    assert (made.address, made.user_id) == ("sb1/support", "alice")
    assert made.model_settings.compute_policy == "cost-aware"
    client.agents.create("sb2", slug="ops", prompt="Be brief.")
    assert [a.address for a in client.agents.list()] == ["sb1/support", "sb2/ops"]
    assert [a.address for a in client.agents.list("sb2")] == ["sb2/ops"]
    updated = client.agents.update("sb1", "support", prompt="Be very kind.")
    assert client.agents.get("sb1", "support").prompt == updated.prompt == "Be very kind."
    with pytest.raises(Conflict):
        client.agents.create("sb1", slug="support", prompt="again")
    client.agents.delete("sb1", "support")
    with pytest.raises(AgentNotFound) as info:
        client.agents.get("sb1", "support")
    assert info.value.code == "agent_not_found"
    assert "sb1/support" in str(info.value)


def test_bad_input_is_a_400_with_the_error_shape_and_changes_nothing(api: Api) -> None:
    client = api.client(api.alice)
    with pytest.raises(InputError, match="slug"):
        client.agents.create("sb1", slug="Not A Slug", prompt="x")
    with pytest.raises(InputError, match="compute provider"):
        client.agents.create(
            "sb1", slug="a", prompt="x", model_settings={"compute_provider": "nope"}
        )
    raw = httpx.post(
        f"{api.url}/v1/sandboxes/sb1/agents",
        headers={"Authorization": f"Bearer {api.alice}"},
        json={"slug": 5},
    )
    assert raw.status_code == 400
    error = raw.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["retryable"] is False
    assert error["request_id"] == raw.headers["x-request-id"]
    assert client.agents.list() == []


def test_a_run_streams_typed_events_and_bills_two_rows(api: Api) -> None:
    client = api.client(api.alice)
    client.agents.create("sb1", slug="support", prompt="Be kind.")
    events = list(client.runs.stream("sb1/support", "TOOL hello there"))
    assert isinstance(events[0], SessionReady)
    assert isinstance(events[1], RunStarted)
    assert any(isinstance(e, ToolStarted) and e.tool == "terminal" for e in events)
    text = "".join(e.delta for e in events if isinstance(e, MessageDelta))
    assert isinstance(events[-1], RunCompleted)
    assert text.strip() == events[-1].output
    run_id = events[-1].run_id
    assert client.runs.get(run_id).state == "completed"
    bill = client.usage.run(run_id)
    assert bill.token is not None
    assert bill.compute is not None
    assert (bill.token.kind, bill.compute.kind) == ("token", "compute")
    assert bill.total_micro == bill.token.amount_micro + bill.compute.amount_micro > 0
    usage = client.usage.get()
    assert [(x.sandbox_id, x.runs) for x in usage.lines if x.agent_id] == [("sb1", 1)]
    credits = client.credits.get()
    assert credits.balance_micro == 100_000_000 - bill.total_micro
    assert credits.reserved_micro == 0


def test_reconnecting_with_last_event_id_resumes_after_it(api: Api) -> None:
    client = api.client(api.alice)
    client.agents.create("sb1", slug="support", prompt="Be kind.")
    events = list(client.runs.stream("sb1/support", "one two three"))
    run_id = events[0].run_id
    later = list(client.runs.events(run_id, after="3"))
    assert [e.seq for e in later] == [e.seq for e in events[3:]]
    assert isinstance(later[-1], RunCompleted)


def test_an_approval_is_answered_through_the_api(api: Api) -> None:
    client = api.client(api.alice)
    client.agents.create("sb1", slug="support", prompt="Be kind.")
    seen = []
    for event in client.runs.stream("sb1/support", "DANGER delete it"):
        seen.append(event)
        if isinstance(event, ApprovalRequested):
            client.runs.approve(event.run_id, "once")
    resolved = [e for e in seen if isinstance(e, ApprovalResolved)]
    assert [e.choice for e in resolved] == ["once"]
    assert isinstance(seen[-1], RunCompleted)
    with pytest.raises(Conflict, match="ended"):
        client.runs.deny(seen[-1].run_id)


def test_cancel_stops_the_run_inside_the_runtime(api: Api) -> None:
    client = api.client(api.alice)
    client.agents.create("sb1", slug="support", prompt="Be kind.")
    run = client.runs.start("sb1/support", "HANG until cancelled")
    assert run.state == "running"
    timer = threading.Timer(0.3, client.runs.cancel, args=(run.run_id,))
    timer.start()
    events = list(client.runs.events(run.run_id))
    timer.join()
    assert isinstance(events[-1], RunCancelled)
    assert all(turn.cancelled for turn in api.runtime.turns)
    assert client.runs.get(run.run_id).state == "cancelled"


def test_sessions_ensure_list_by_agent_and_lifecycle(api: Api) -> None:
    client = api.client(api.alice)
    client.agents.create("sb1", slug="support", prompt="Be kind.")
    client.agents.create("sb1", slug="quiet", prompt="Say little.")
    client.agents.create("sb2", slug="ops", prompt="Be brief.")
    events = list(client.runs.stream("sb1/support", "hi"))
    ready = events[0]
    assert isinstance(ready, SessionReady)
    other = client.compute.sessions.ensure("sb2")
    assert {s.id for s in client.compute.sessions.list()} == {ready.session_id, other.id}
    [by_agent] = client.compute.sessions.list("sb1", agent_slug="support")
    assert by_agent.id == ready.session_id
    assert client.compute.sessions.list("sb1", agent_slug="quiet") == []
    with pytest.raises(AgentNotFound):
        client.compute.sessions.list("sb1", agent_slug="nobody")
    assert client.compute.sessions.suspend(other.id).state == "suspended"
    assert client.compute.sessions.resume(other.id).state == "running"
    assert client.compute.sessions.archive(other.id).state == "archived"
    assert client.compute.sessions.destroy(other.id).state == "destroyed"
    with pytest.raises(InvalidTransition) as info:
        client.compute.sessions.suspend(other.id)
    assert (info.value.current, info.value.target) == ("destroyed", "suspending")
    assert client.compute.sessions.get(other.id).state == "destroyed"
    assert [s.id for s in client.compute.sessions.list()] == [ready.session_id]


def test_a_run_the_balance_cannot_cover_is_a_402_before_any_session(api: Api) -> None:
    _, carol = api.keys.create("carol")
    client = api.client(carol)
    client.agents.create("sb1", slug="support", prompt="Be kind.")
    with pytest.raises(InsufficientCredit) as info:
        client.runs.start("sb1/support", "hello")
    assert info.value.available == 0
    assert info.value.required > 0
    assert client.compute.sessions.list() == []


def test_providers_list_with_health(api: Api) -> None:
    [local] = api.client(api.alice).providers.list()
    assert (local.name, local.healthy, local.suspend) == ("local", True, True)
    api.agents.compute.health.failed("local", now=api.agents.compute.clock.now())
    [cooling] = api.client(api.bob).providers.list()
    assert cooling.healthy is False
    assert cooling.retry_at is not None
    assert cooling.retry_at > api.agents.compute.clock.now()


def test_an_admin_pauses_and_unpauses_a_user_through_the_api(api: Api) -> None:
    alice, bob, admin = (api.client(k) for k in (api.alice, api.bob, api.admin))
    alice.agents.create("sb1", slug="support", prompt="Be kind.")
    bob.agents.create("sb1", slug="support", prompt="Be kind.")
    body = {"scope": "user:alice", "mode": "drain", "reason": "abuse report"}
    with pytest.raises(Forbidden):
        alice.json("POST", "/v1/admin/pauses", json=body)
    made = admin.json("POST", "/v1/admin/pauses", json=body)
    assert (made["scope"], made["mode"]) == ("user:alice", "drain")
    assert made["actor"].startswith("api key key_")
    assert [p["scope"] for p in admin.json("GET", "/v1/admin/pauses")] == ["user:alice"]
    with pytest.raises(Paused) as info:
        alice.runs.start("sb1/support", "hello")
    assert info.value.scope == "user alice"
    assert isinstance(list(bob.runs.stream("sb1/support", "hello"))[-1], RunCompleted)
    with pytest.raises(InputError):
        admin.json("POST", "/v1/admin/pauses", json={**body, "scope": "provider:nope"})
    left = admin.json(
        "POST", "/v1/admin/unpause", json={"scope": "user:alice", "reason": "resolved"}
    )
    assert left == []
    assert isinstance(list(alice.runs.stream("sb1/support", "hello"))[-1], RunCompleted)


def test_route_explain_over_the_api_and_the_async_sdk(api: Api) -> None:
    import asyncio

    from computerouter.client import AsyncClient

    alice = api.client(api.alice)
    alice.agents.create(
        "sb1", slug="cheap", model_settings={"compute_policy": "cost-aware"}, prompt="p"
    )
    decision = alice.agents.route("sb1", "cheap")
    assert decision.agent == "sb1/cheap"
    assert decision.policy == "cost-aware"
    assert decision.candidates == ["local"]
    row = decision.providers[0]
    assert (row.provider, row.kept, row.rank) == ("local", True, 1)
    what_if = alice.agents.route("sb1", "cheap", policy="latency-aware")
    assert what_if.policy == "latency-aware"

    async def from_async() -> list[str]:
        async with AsyncClient(api.url, api.alice) as client:
            return (await client.agents.route("sb1", "cheap")).candidates

    assert asyncio.run(from_async()) == ["local"]
    with pytest.raises(InputError, match="unknown compute policy 'cheapest'"):
        alice.agents.route("sb1", "cheap", policy="cheapest")
    with pytest.raises(AgentNotFound):
        api.client(api.bob).agents.route("sb1", "cheap")  # another tenant's: not found
