"""The SDK's retries, through httpx.MockTransport: only retryable codes are retried, with
backoff (Retry-After honoured); everything else is raised at once as the server's class."""

from __future__ import annotations

import httpx
import pytest

from computerouter.client import Client, RetryPolicy
from computerouter.errors import (
    InvalidTransition,
    RateLimited,
    StoreError,
)
from computerouter.wire.errors import error_body, status_for

SESSION = {
    "id": "ses_1",
    "user_id": "alice",
    "sandbox_id": "sb1",
    "provider": "local",
    "region": "",
    "runtime": "hermes",
    "state": "running",
    "agent_id": "",
    "run_id": "",
    "cpus": 1.0,
    "memory_mb": 2048,
    "created_at": 1.0,
    "updated_at": 1.0,
    "state_changed_at": 1.0,
    "last_active_at": 1.0,
}


def scripted(*replies: httpx.Response) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(replies)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return httpx.MockTransport(handle), seen


def error(exc: Exception) -> httpx.Response:
    assert hasattr(exc, "code")
    return httpx.Response(status_for(exc), json=error_body(exc))  # type: ignore[arg-type]


FAST = RetryPolicy(attempts=3, base_s=0.001, max_s=0.01)


def test_a_retryable_error_is_retried_until_it_succeeds() -> None:
    transport, seen = scripted(
        error(StoreError("database is locked")),
        error(StoreError("database is locked")),
        httpx.Response(200, json=SESSION),
    )
    client = Client("http://api", "cr_key_x_y", transport=transport, retries=FAST)
    assert client.compute.sessions.get("ses_1").state == "running"
    assert len(seen) == 3
    assert seen[0].headers["authorization"] == "Bearer cr_key_x_y"


def test_retries_give_up_after_the_policy_and_raise_the_servers_class() -> None:
    transport, seen = scripted(*(error(StoreError("down")) for _ in range(3)))
    client = Client("http://api", "k", transport=transport, retries=FAST)
    with pytest.raises(StoreError, match="down"):
        client.compute.sessions.get("ses_1")
    assert len(seen) == 3


def test_a_non_retryable_error_is_raised_at_once() -> None:
    transport, seen = scripted(
        error(InvalidTransition(session_id="ses_1", current="destroyed", target="suspending"))
    )
    client = Client("http://api", "k", transport=transport, retries=FAST)
    with pytest.raises(InvalidTransition) as info:
        client.compute.sessions.suspend("ses_1")
    assert len(seen) == 1
    assert info.value.current == "destroyed"


def test_rate_limited_waits_as_long_as_the_server_says() -> None:
    policy = RetryPolicy(attempts=2, base_s=0.001, max_s=0.05)
    limited = RateLimited("slow down", retry_after_s=0.04)
    assert policy.delay(0, limited) == pytest.approx(0.04)
    transport, seen = scripted(error(limited), httpx.Response(200, json=SESSION))
    client = Client("http://api", "k", transport=transport, retries=policy)
    assert client.compute.sessions.get("ses_1").id == "ses_1"
    assert len(seen) == 2


def test_connection_failures_are_retried() -> None:
    calls = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=SESSION)

    client = Client("http://api", "k", transport=httpx.MockTransport(handle), retries=FAST)
    assert client.compute.sessions.get("ses_1").id == "ses_1"
    assert len(calls) == 2
