"""The recorded Hermes streams in tests/fixtures/hermes: well formed, and the stand-in answers
the requests Hermes actually sent the way the recordings say it did."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standin_sse import sse_events

from computerouter.standin import StandinModel

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hermes"
RUNS = sorted(p.name.removesuffix(".events.sse") for p in FIXTURES.glob("runs-*.events.sse"))
CHATS = sorted(p.name for p in FIXTURES.glob("chat-*.sse"))
TERMINAL = {"run.completed": "completed", "run.failed": "failed", "run.cancelled": "cancelled"}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_every_scenario_was_recorded() -> None:
    assert RUNS == [
        "runs-approval-deny",
        "runs-approval-once",
        "runs-approval-stop",
        "runs-cancel",
        "runs-failed",
        "runs-plain",
        "runs-tool",
        "runs-turn1",
        "runs-turn2",
        "runs-unreachable",
    ]
    assert CHATS == ["chat-failed.sse", "chat-plain.sse", "chat-tool.sse", "chat-unreachable.sse"]


@pytest.mark.parametrize("scenario", RUNS)
def test_run_stream_ends_in_the_state_the_run_reports(scenario: str) -> None:
    run_id = load(f"{scenario}.start.json")["run_id"]
    body = (FIXTURES / f"{scenario}.events.sse").read_text()
    assert body.endswith(": stream closed\n\n")
    events = [json.loads(e) for e in sse_events(body)]
    assert {e["run_id"] for e in events} == {run_id}
    assert [e["event"] for e in events if e["event"] in TERMINAL] == [events[-1]["event"]]
    final = load(f"{scenario}.run.json")
    assert final["run_id"] == run_id
    assert final["status"] == TERMINAL[events[-1]["event"]]


@pytest.mark.parametrize("name", CHATS)
def test_chat_stream_ends_with_done(name: str) -> None:
    events = sse_events((FIXTURES / name).read_text())
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])
    expected = "error" if ("failed" in name or "unreachable" in name) else "stop"
    assert last["choices"][0]["finish_reason"] == expected


@pytest.fixture(scope="module")
def sent() -> dict[str, Any]:
    return dict(load("model-requests.json"))


@pytest.fixture(scope="module")
def standin() -> Iterator[StandinModel]:
    with StandinModel() as model:
        yield model


def answer(standin: StandinModel, request: dict[str, Any]) -> dict[str, Any]:
    body = {**request, "stream": False}
    response = httpx.post(f"{standin.base_url}/chat/completions", json=body)
    assert response.status_code == 200
    return dict(response.json()["choices"][0]["message"])


def test_hermes_first_tool_request_gets_the_terminal_call(
    standin: StandinModel, sent: dict[str, Any]
) -> None:
    message = answer(standin, sent["runs-tool.request-1"])
    arguments = json.loads(message["tool_calls"][0]["function"]["arguments"])
    assert arguments == {"command": "echo hello-from-tool"}
    # Hermes echoed the stand-in's call id back in its second request.
    echoed = sent["runs-tool.request-2"]["messages"][2]["tool_calls"][0]["id"]
    assert message["tool_calls"][0]["id"] == echoed


def test_hermes_tool_result_request_gets_tool_done(
    standin: StandinModel, sent: dict[str, Any]
) -> None:
    content = answer(standin, sent["runs-tool.request-2"])["content"]
    assert content == load("runs-tool.run.json")["output"]


def test_hermes_judge_request_gets_escalate(standin: StandinModel, sent: dict[str, Any]) -> None:
    assert answer(standin, sent["runs-approval.judge"])["content"] == "ESCALATE"


def test_hermes_second_turn_request_recalls_the_first(
    standin: StandinModel, sent: dict[str, Any]
) -> None:
    content = answer(standin, sent["runs-turn2.request"])["content"]
    assert content == load("runs-turn2.run.json")["output"]
    assert "Ada" in content
