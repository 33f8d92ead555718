"""The stand-in's script: which reply each conversation gets (no server involved)."""

from __future__ import annotations

import json

import pytest

import computerouter.standin
from computerouter.standin.script import (
    DANGER_COMMAND,
    TOOL_COMMAND,
    Message,
    Verdict,
    remembered,
    reply,
)


def convo(*pairs: tuple[str, str]) -> list[Message]:
    return [Message(role=role, text=text) for role, text in pairs]


def command_of(messages: list[Message]) -> str:
    call = reply(messages).tool_call
    assert call is not None
    assert call.name == "terminal"
    return str(json.loads(call.arguments)["command"])


def test_exports_are_pinned() -> None:
    assert computerouter.standin.__all__ == ["MODEL_ID", "StandinModel", "Verdict"]


def test_default_reply_names_the_stand_in_and_counts_turns() -> None:
    first = reply(convo(("system", "be nice"), ("user", "hi")))
    assert first.text == (
        "Hello from the computerouter stand-in model. This is turn 1 of our conversation."
    )
    assert first.finish_reason == "stop"
    later = reply(convo(("user", "hi"), ("assistant", "hello"), ("user", "again")))
    assert "turn 2" in later.text


@pytest.mark.parametrize(
    ("said", "asked", "expected"),
    [
        ("My name is Ada Lovelace.", "What is my name?", "I remember: Ada Lovelace."),
        ("Please remember the launch code is blue-42", "what do you remember", "blue-42"),
        ("remember that cats purr. My name is Bo", "What's my name?", "cats purr; Bo"),
    ],
)
def test_a_later_turn_recalls_what_an_earlier_turn_said(
    said: str, asked: str, expected: str
) -> None:
    answer = reply(convo(("user", said), ("assistant", "ok"), ("user", asked)))
    assert expected in answer.text


def test_recall_without_earlier_turns_says_nothing_yet() -> None:
    assert reply(convo(("user", "My name is Ada. What is my name?"))).text == (
        "I remember: nothing yet."
    )


def test_recall_questions_are_not_remembered_as_facts() -> None:
    messages = convo(
        ("user", "what do you remember about me?"),
        ("assistant", "nothing"),
        ("user", "what do you remember?"),
    )
    assert remembered(messages) == []


def test_use_tool_asks_for_the_terminal_echo() -> None:
    messages = convo(("user", "Please USE_TOOL now"))
    assert command_of(messages) == TOOL_COMMAND
    assert reply(messages).finish_reason == "tool_calls"


def test_run_asks_for_the_given_command() -> None:
    assert command_of(convo(("user", "RUN: curl -s http://example.com/ | head -1\nthanks"))) == (
        "curl -s http://example.com/ | head -1"
    )


def test_mcp_asks_for_a_tool_of_the_routers_mcp_host() -> None:
    call = reply(convo(("user", 'MCP: sandbox_usage {"sandbox_id": "sb1"}\nthanks'))).tool_call
    assert call is not None
    assert call.name == "mcp__computerouter__sandbox_usage"
    assert json.loads(call.arguments) == {"sandbox_id": "sb1"}
    bare = reply(convo(("user", "MCP: mcp__other__tool"))).tool_call
    assert bare is not None
    assert bare.name == "mcp__other__tool"
    assert json.loads(bare.arguments) == {}


def test_danger_asks_for_a_recursive_delete() -> None:
    assert command_of(convo(("user", "DANGER zone"))) == DANGER_COMMAND
    assert DANGER_COMMAND.startswith("rm -rf ")


def test_tool_call_ids_are_deterministic() -> None:
    messages = convo(("user", "USE_TOOL"))
    first, second = reply(messages).tool_call, reply(messages).tool_call
    assert first is not None
    assert first == second
    assert first.id.startswith("call_standin_")


def test_a_tool_result_is_answered_with_tool_done() -> None:
    messages = convo(("user", "USE_TOOL"), ("assistant", ""), ("tool", '{"output": "hi"}'))
    answer = reply(messages)
    assert answer.text == 'TOOL_DONE: {"output": "hi"}'
    assert answer.tool_call is None


def test_triggers_are_read_from_the_last_user_message_only() -> None:
    messages = convo(("user", "USE_TOOL"), ("assistant", "done"), ("user", "and now?"))
    assert reply(messages).tool_call is None


@pytest.mark.parametrize("text", ["the build failed", "go slowly", "FAILURE is ok", "no danger"])
def test_triggers_are_whole_upper_case_words(text: str) -> None:
    answer = reply(convo(("user", text)))
    assert answer.text.startswith("Hello from")
    assert not answer.fail
    assert not answer.slow


def test_fail_and_slow() -> None:
    assert reply(convo(("user", "FAIL please"))).fail
    slow = reply(convo(("user", "SLOW please")))
    assert slow.slow
    assert not slow.fail
    assert slow.text.startswith("Hello from")
    assert reply(convo(("user", "SLOW USE_TOOL"))).tool_call is not None


def test_the_approval_judge_gets_one_word() -> None:
    judge = convo(
        ("system", "You are a security reviewer for an AI coding agent. …"),
        ("user", "<command>\nrm -rf x\n</command> Respond with exactly one word: APPROVE, ..."),
    )
    assert reply(judge).text == "ESCALATE"
    assert reply(judge, verdict=Verdict.APPROVE).text == "APPROVE"
    assert reply(judge, verdict=Verdict.DENY).text == "DENY"


def test_the_judge_wins_over_triggers_in_the_command_it_reviews() -> None:
    judge = convo(
        ("system", "Respond with exactly one word: APPROVE, DENY, or ESCALATE"),
        ("user", "<command>DANGER FAIL USE_TOOL</command>"),
    )
    answer = reply(judge)
    assert answer.text == "ESCALATE"
    assert not answer.fail
