"""The MCP host over fake compute (real store, real HTTP): a tool call acts for the run whose
token it carries; a bad, ended, expired or absent token reads nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from computerouter.agents.run_token import RunTokens
from computerouter.compute.router import ComputeRouter
from computerouter.domain.values import SessionKey
from computerouter.mcp_host import McpHost
from computerouter.store.run_tokens import RunTokenStore
from computerouter.testing import FakeClock

ALICE = SessionKey(user_id="alice", sandbox_id="sb-a")
BOB = SessionKey(user_id="bob", sandbox_id="sb-b")


@pytest.fixture
def tokens(router: ComputeRouter, clock: FakeClock) -> RunTokens:
    return RunTokens(RunTokenStore(router.store.engine), clock=clock)


@pytest.fixture
def host(router: ComputeRouter, tokens: RunTokens) -> Iterator[McpHost]:
    served = McpHost(router, tokens)
    yield served
    served.stop()


def call(host: McpHost, token: str | None, tool: str, **arguments: Any) -> httpx.Response:
    headers = {"Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(
        host.url(),
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        },
        timeout=15,
    )


def result(response: httpx.Response) -> tuple[bool, Any]:
    assert response.status_code == 200, (response.status_code, response.text)
    body = response.json()["result"]
    text = "".join(c.get("text", "") for c in body["content"])
    return bool(body.get("isError")), body.get("structuredContent") or text


def token_for(tokens: RunTokens, clock: FakeClock, key: SessionKey, run_id: str) -> str:
    return tokens.issue(
        user_id=key.user_id,
        sandbox_id=key.sandbox_id,
        agent_id="agt_x",
        run_id=run_id,
        expires_at=clock.now() + 30,
    )[1]


def test_a_call_acts_for_the_run_of_its_token(
    router: ComputeRouter, tokens: RunTokens, host: McpHost, clock: FakeClock
) -> None:
    with router.open_run(ALICE, run_id="run_a", provider="fake") as lease:
        token = token_for(tokens, clock, ALICE, "run_a")
        error, me = result(call(host, token, "whoami"))
        assert not error, me
        assert me == {
            "user_id": "alice",
            "sandbox_id": "sb-a",
            "agent_id": "agt_x",
            "run_id": "run_a",
        }
        error, sessions = result(call(host, token, "sandbox_sessions"))
        assert not error, sessions
        assert [s["session_id"] for s in sessions["sessions"]] == [lease.session.id]


def test_a_token_is_refused_once_its_run_ended_or_expired(
    router: ComputeRouter, tokens: RunTokens, host: McpHost, clock: FakeClock
) -> None:
    with router.open_run(ALICE, run_id="run_a", provider="fake"):
        token = token_for(tokens, clock, ALICE, "run_a")
        assert not result(call(host, token, "whoami"))[0]
    ended = call(host, token, "whoami")  # the run ended without revoking it: still refused
    assert ended.status_code == 401
    assert "not in flight" in ended.json()["error"]["message"]

    with router.open_run(ALICE, run_id="run_b", provider="fake"):
        token = token_for(tokens, clock, ALICE, "run_b")
        clock.advance(30)
        expired = call(host, token, "whoami")
        assert expired.status_code == 401
        assert "expired" in expired.json()["error"]["message"]


def test_without_a_token_a_call_reads_nothing(host: McpHost) -> None:
    error, text = result(call(host, None, "whoami"))
    assert error, text
    assert "unauthorized" in str(text)


@pytest.mark.parametrize("presented", ["garbage", "rtk_x.y", "rtk_01ABCDEFGHIJKLMNOPQRSTUV.z"])
def test_a_bad_token_is_refused_before_the_mcp_server(host: McpHost, presented: str) -> None:
    response = call(host, presented, "whoami")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_another_users_sandbox_and_session_are_not_found(
    router: ComputeRouter, tokens: RunTokens, host: McpHost, clock: FakeClock
) -> None:
    with (
        router.open_run(BOB, run_id="run_b", provider="fake") as bob,
        router.open_run(ALICE, run_id="run_a", provider="fake"),
    ):
        token = token_for(tokens, clock, ALICE, "run_a")
        for tool, arguments in (
            ("sandbox_sessions", {"sandbox_id": "sb-b"}),
            ("workspace_files", {"session_id": bob.session.id}),
        ):
            error, text = result(call(host, token, tool, **arguments))
            assert error, (tool, text)
            assert "not_found" in str(text)
            assert bob.session.id not in str(text)
