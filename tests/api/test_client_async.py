"""The async SDK against a live server: the same calls as the sync one, awaited, with the
server's error classes; and its retries over httpx.MockTransport."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from computerouter.client import AsyncClient, RetryPolicy
from computerouter.domain.events import AgentEvent, ApprovalRequested, RunCompleted, SessionReady
from computerouter.errors import InvalidTransition, SessionNotFound, StoreError
from computerouter.store.agents import AgentNotFound
from computerouter.testing.live_api import Api
from computerouter.wire.errors import error_body


def test_async_client_covers_agents_runs_sessions_usage(api: Api) -> None:
    async def scenario() -> None:
        async with AsyncClient(api.url, api.alice, retries=RetryPolicy(attempts=1)) as client:
            made = await client.agents.create(
                "sb1",
                slug="support",
                prompt="Be kind.",
                model_settings={"compute_provider": "local"},
            )
            assert made.model_settings.compute_provider == "local"
            assert [a.slug for a in await client.agents.list("sb1")] == ["support"]
            assert (
                await client.agents.update("sb1", "support", prompt="Kinder.")
            ).prompt == "Kinder."
            events: list[AgentEvent] = []
            async for event in client.runs.stream("sb1/support", "DANGER now"):
                events.append(event)
                if isinstance(event, ApprovalRequested):
                    await client.runs.deny(event.run_id)
            assert isinstance(events[0], SessionReady)
            assert isinstance(events[-1], RunCompleted)
            run_id = events[-1].run_id
            assert (await client.runs.get(run_id)).state == "completed"
            [listed] = await client.runs.list(sandbox_id="sb1", agent="support")
            summary = await client.runs.summary(run_id)
            assert listed == summary
            assert (summary.agent_slug, summary.provider) == ("support", "local")
            assert (await client.usage.get(since=0.0)).lines
            bill = await client.usage.run(run_id)
            assert bill.token is not None
            assert bill.compute is not None
            assert [r.run_id for r in await client.runs.list()] == [run_id]
            series = await client.usage.series(bucket_s=3600)
            spent = sum(p.token_micro + p.compute_micro + p.idle_micro for p in series.points)
            assert spent == (await client.usage.get()).total_micro
            [session] = await client.compute.sessions.list("sb1", agent_slug="support")
            assert session.id == events[0].session_id
            assert (await client.compute.sessions.suspend(session.id)).state == "suspended"
            assert (await client.compute.sessions.resume(session.id)).state == "running"
            assert (await client.compute.sessions.destroy(session.id)).state == "destroyed"
            with pytest.raises(InvalidTransition):
                await client.compute.sessions.archive(session.id)
            with pytest.raises(SessionNotFound):
                await client.compute.sessions.get("ses_nope")
            assert (await client.credits.get()).balance_micro < 100_000_000
            assert [p.name for p in await client.providers.list()] == ["local"]
            assert "local" in [p.name for p in await client.providers.report()]
            await client.agents.delete("sb1", "support")
            with pytest.raises(AgentNotFound):
                await client.agents.get("sb1", "support")

    asyncio.run(scenario())


def test_async_admin_calls(api: Api) -> None:
    async def scenario() -> None:
        async with AsyncClient(api.url, api.admin, retries=RetryPolicy(attempts=1)) as client:
            await client.admin.pause("user:bob", reason="checking")
            await client.admin.unpause("user:bob", reason="done")
            trail = await client.admin.history()
            assert [(e.action, e.scope) for e in trail] == [
                ("pause", "user:bob"),
                ("unpause", "user:bob"),
            ]
            granted = await client.credits.grant("bob", 5, key="once")
            again = await client.credits.grant("bob", 5, key="once")
            assert granted.entry_id == again.entry_id
            assert again.balance_micro == 100_000_005
            assert (await client.credits.audit()).clean

    asyncio.run(scenario())


def test_async_retries_only_retryable_errors() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(503, json=error_body(StoreError("locked")))
        return httpx.Response(200, json=[])

    async def scenario() -> None:
        client = AsyncClient(
            "http://api",
            "k",
            transport=httpx.MockTransport(handle),
            retries=RetryPolicy(attempts=3, base_s=0.001),
        )
        assert await client.agents.list() == []
        await client.aclose()

    asyncio.run(scenario())
    assert len(seen) == 2
