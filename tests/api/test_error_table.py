"""The error table: every error class has one status and a unique stable code, and an error
rendered by the server comes back through the SDK as the same class with the same attributes."""

from __future__ import annotations

import inspect

import pytest

from computerouter import errors
from computerouter.errors import (
    ComputeRouterError,
    FailoverAttempt,
    InsufficientCredit,
    InvalidTransition,
    ProviderUnavailable,
    RateLimited,
    SessionNotFound,
    SessionUnavailable,
)
from computerouter.store.agents import AgentNotFound
from computerouter.wire.errors import ERROR_TABLE, error_body, error_from_body, status_for


def test_every_error_class_has_one_entry_with_a_unique_code() -> None:
    classes = {
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, ComputeRouterError)
    } | {AgentNotFound}
    listed = [spec.cls for spec in ERROR_TABLE]
    assert set(listed) == classes
    assert len(listed) == len(set(listed))
    codes = [spec.code for spec in ERROR_TABLE]
    assert len(codes) == len(set(codes))
    assert all(400 <= spec.status < 600 for spec in ERROR_TABLE)


SAMPLES: list[ComputeRouterError] = [
    SessionNotFound("ses_1"),
    AgentNotFound("alice", "sb1/support"),
    InvalidTransition(session_id="ses_1", current="destroyed", target="suspending"),
    InsufficientCredit(user_id="alice", available=5, required=100_000),
    ProviderUnavailable("paused", provider="daytona", retryable=True),
    RateLimited("slow down", retry_after_s=1.5),
    SessionUnavailable(
        "no provider could",
        failover_history=[FailoverAttempt(provider="local", error_code="x", message="down")],
    ),
    errors.StaleState(session_id="ses_1", expected="running"),
    errors.Paused(scope="provider local", reason="maintenance"),
    errors.CapReached(user_id="alice", what="runs in flight", cap=2),
    SessionUnavailable("bad input", retryable=False),
]


@pytest.mark.parametrize("exc", SAMPLES, ids=lambda e: type(e).__name__)
def test_an_error_round_trips_to_the_same_class_and_attributes(exc: ComputeRouterError) -> None:
    body = error_body(exc, request_id="req_1")
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "retryable", "request_id", "details"}
    back = error_from_body(body, status=status_for(exc))
    assert type(back) is type(exc)
    assert str(back) == str(exc)
    assert back.retryable == exc.retryable

    def attributes(error: ComputeRouterError) -> dict[str, object]:
        return {k: v for k, v in vars(error).items() if k not in ("retryable", "request_id")}

    assert attributes(back) == attributes(exc)


def test_an_unknown_code_falls_back_to_the_base_class_of_its_status() -> None:
    body = {"error": {"code": "brand_new", "message": "from a newer server"}}
    back = error_from_body(body, status=404)
    assert type(back) is errors.NotFound
    assert str(back) == "from a newer server"
    assert type(error_from_body("not json", status=500)) is ComputeRouterError


def test_statuses_users_rely_on() -> None:
    assert status_for(SessionNotFound("x")) == 404
    assert status_for(InsufficientCredit(user_id="u", available=0, required=1)) == 402
    assert status_for(RateLimited("x", retry_after_s=1)) == 429
    assert status_for(errors.Unauthorized("x")) == 401
    assert status_for(InvalidTransition(session_id="s", current="a", target="b")) == 409
