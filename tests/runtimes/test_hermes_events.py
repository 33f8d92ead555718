"""Hermes event translation over streams recorded from hermes-agent 0.19.0 (tests/fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from computerouter.domain.events import (
    AgentEvent,
    ApprovalRequested,
    ApprovalResolved,
    MessageDelta,
    RunCancelled,
    RunCompleted,
    RunFailed,
    ToolCompleted,
    ToolStarted,
    Usage,
)
from computerouter.runtimes.base import EventContext
from computerouter.runtimes.hermes.events import parse_sse, translate

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hermes"


def replay(name: str) -> list[AgentEvent]:
    context = EventContext(run_id="run_x", agent_id="agt_x", sandbox_id="sb", user_id="u")
    lines = (FIXTURES / f"{name}.events.sse").read_text().splitlines(keepends=True)
    events: list[AgentEvent] = []
    for payload in parse_sse(lines):
        events.extend(translate(payload, context, model="standin-model"))
    return events


def final_run(name: str) -> dict[str, object]:
    return dict(json.loads((FIXTURES / f"{name}.run.json").read_text()))


def kinds(events: list[AgentEvent]) -> list[type[AgentEvent]]:
    """Event types in order, with runs of message deltas collapsed to one."""
    out: list[type[AgentEvent]] = []
    for event in events:
        if not (out and out[-1] is MessageDelta and isinstance(event, MessageDelta)):
            out.append(type(event))
    return out


def test_plain_reply() -> None:
    events = replay("runs-plain")
    assert kinds(events) == [MessageDelta, Usage, RunCompleted]
    text = "".join(e.delta for e in events if isinstance(e, MessageDelta))
    completed = events[-1]
    assert isinstance(completed, RunCompleted)
    assert completed.output == final_run("runs-plain")["output"]
    assert text.strip() == completed.output.strip()
    usage = events[-2]
    assert isinstance(usage, Usage)
    assert usage.input_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.model == "standin-model"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_tool_progress() -> None:
    events = replay("runs-tool")
    assert kinds(events)[:2] == [ToolStarted, ToolCompleted]
    started, done = events[0], events[1]
    assert isinstance(started, ToolStarted)
    assert started.tool == "terminal"
    assert "echo hello-from-tool" in started.preview
    assert isinstance(done, ToolCompleted)
    assert done.error is False
    assert done.duration_s > 0
    completed = events[-1]
    assert isinstance(completed, RunCompleted)
    assert completed.output.startswith("TOOL_DONE")


@pytest.mark.parametrize(
    ("name", "choice", "tool_error"),
    [
        ("runs-approval-deny", "deny", True),
        ("runs-approval-once", "once", False),
    ],
)
def test_approval(name: str, choice: str, tool_error: bool) -> None:
    events = replay(name)
    order = kinds(events)
    assert order.index(ToolStarted) < order.index(ApprovalRequested) < order.index(ApprovalResolved)
    request = next(e for e in events if isinstance(e, ApprovalRequested))
    assert "rm -rf" in request.command
    assert request.description == "recursive delete"
    assert "deny" in request.choices
    resolved = next(e for e in events if isinstance(e, ApprovalResolved))
    assert resolved.choice == choice
    done = next(e for e in events if isinstance(e, ToolCompleted))
    assert done.error is tool_error
    assert isinstance(events[-1], RunCompleted)


def test_stop_while_waiting_for_approval() -> None:
    events = replay("runs-approval-stop")
    assert ApprovalRequested in kinds(events)
    assert isinstance(events[-1], RunCancelled)


@pytest.mark.parametrize("name", ["runs-failed", "runs-unreachable"])
def test_failed_model_call(name: str) -> None:
    events = replay(name)
    assert kinds(events) == [RunFailed]
    failed = events[0]
    assert isinstance(failed, RunFailed)
    assert failed.error == final_run(name)["error"]
    assert failed.code == "runtime_failed"


def test_cancel() -> None:
    assert kinds(replay("runs-cancel")) == [RunCancelled]


def test_reasoning_echo_is_dropped_and_unknown_events_ignored() -> None:
    context = EventContext(run_id="r", agent_id="a", sandbox_id="s", user_id="u")
    assert translate({"event": "reasoning.available", "text": "x"}, context) == []
    assert translate({"event": "brand.new.event"}, context) == []
    assert translate({"event": "message.delta", "delta": ""}, context) == []


def test_sse_parser_skips_comments_and_joins_lines() -> None:
    lines = [
        ": keepalive\n",
        'data: {"event":\n',
        'data: "run.cancelled"}\n',
        "\n",
        ": stream closed\n",
    ]
    assert list(parse_sse(lines)) == [{"event": "run.cancelled"}]
