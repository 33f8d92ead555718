"""What the stand-in says: a pure function from a conversation to one scripted reply.

No I/O and no clock here, so every behaviour is a plain unit test. The server decides how a
reply goes on the wire (``wire.py``) and when (``server.py``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from computerouter.standin.concierge import concierge_reply, is_concierge

MODEL_ID = "standin-model"
LABEL = "computerouter stand-in"

# The terminal command each tool trigger runs. DANGER_COMMAND matches Hermes's "recursive
# delete" pattern (so it asks for approval) but is relative and names a directory nobody has,
# so approving it once deletes nothing. An absolute path would hit "delete in root path" or
# Hermes's hardline blocklist instead.
TOOL_COMMAND = "echo hello-from-tool"
DANGER_COMMAND = "rm -rf standin-danger-zone"
TERMINAL_TOOL = "terminal"
MCP_TOOL_PREFIX = "mcp__computerouter__"
"""How Hermes names a tool of the router's MCP host (its ``mcp_servers`` entry is
``computerouter``)."""

_JUDGE_MARKERS = ("security reviewer", "APPROVE, DENY, or ESCALATE")
_RUN = re.compile(r"\bRUN:[ \t]*(?P<command>[^\n]+)")
_MCP = re.compile(r"\bMCP:[ \t]*(?P<tool>[A-Za-z0-9_]+)[ \t]*(?P<args>\{[^\n]*\})?")
_NAME = re.compile(r"\bmy name is\s+(?P<fact>[^.,;!?\n]+)", re.IGNORECASE)
_REMEMBER = re.compile(r"\bremember(?:\s+that)?\s+(?P<fact>[^.;!?\n]+)", re.IGNORECASE)
_RECALL = re.compile(
    r"\bwhat (?:do you remember|is my name|'s my name)|\bwhat's my name", re.IGNORECASE
)


def _trigger(word: str) -> re.Pattern[str]:
    # Upper case and whole words, so "failed" or "slowly" in ordinary text trigger nothing.
    return re.compile(rf"\b{word}\b")


_USE_TOOL = _trigger("USE_TOOL")
_DANGER = _trigger("DANGER")
_SLOW = _trigger("SLOW")
_FAIL = _trigger("FAIL")


class Verdict(StrEnum):
    """The one word the stand-in gives Hermes's smart-approval judge."""

    APPROVE = "APPROVE"
    DENY = "DENY"
    ESCALATE = "ESCALATE"


@dataclass(frozen=True, kw_only=True)
class Message:
    """One chat message, reduced to what the script reads."""

    role: str
    text: str


@dataclass(frozen=True, kw_only=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as OpenAI sends it


@dataclass(frozen=True, kw_only=True)
class Reply:
    """The scripted answer to one chat request.

    ``fail`` means answer HTTP 500 instead of a completion; ``slow`` means wait the configured
    delay first. A reply carries text or one tool call, never both.
    """

    text: str = ""
    tool_call: ToolCall | None = None
    slow: bool = False
    fail: bool = False

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_call is not None else "stop"


def message_text(content: object) -> str:
    """The text of an OpenAI message ``content``: a string, a list of parts, or nothing."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def is_judge(messages: Sequence[Message]) -> bool:
    """True for Hermes's auxiliary "smart approval" request (system prompt of a reviewer)."""
    return any(
        m.role == "system" and any(marker in m.text for marker in _JUDGE_MARKERS) for m in messages
    )


def remembered(messages: Sequence[Message]) -> list[str]:
    """Facts the user asked to be remembered in earlier user messages, oldest first."""
    users = [m.text for m in messages if m.role == "user"]
    facts: list[str] = []
    for text in users[:-1]:
        if _RECALL.search(text):
            continue
        matches = [*_NAME.finditer(text), *_REMEMBER.finditer(text)]
        for match in sorted(matches, key=lambda m: m.start()):
            fact = match.group("fact").strip()
            if fact and fact not in facts:
                facts.append(fact)
    return facts


def _call(command: str, messages: Sequence[Message]) -> ToolCall:
    return _tool_call(TERMINAL_TOOL, json.dumps({"command": command}), messages, seed=command)


def _tool_call(name: str, arguments: str, messages: Sequence[Message], *, seed: str) -> ToolCall:
    # The id depends only on the conversation so far, so recorded streams are reproducible.
    digest = hashlib.sha256(f"{len(messages)}:{seed}".encode()).hexdigest()
    return ToolCall(
        id="call_standin_" + digest[:12],
        name=name,
        arguments=arguments,
    )


def _mcp_call(match: re.Match[str], messages: Sequence[Message]) -> ToolCall:
    tool = match.group("tool")
    name = tool if tool.startswith("mcp__") else MCP_TOOL_PREFIX + tool
    try:
        args = json.loads(match.group("args") or "{}")
    except ValueError:
        args = {}
    arguments = json.dumps(args if isinstance(args, dict) else {})
    return _tool_call(name, arguments, messages, seed=f"{name}:{arguments}")


def _concierge(messages: Sequence[Message]) -> Reply:
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    request = messages[last].text if last >= 0 else ""
    results = [m.text for m in messages[last + 1 :] if m.role == "tool"]
    step = concierge_reply(request, results)
    if isinstance(step, str):
        return Reply(text=step)
    name, arguments = step
    return Reply(tool_call=_tool_call(name, arguments, messages, seed=f"{name}:{arguments}"))


def reply(messages: Sequence[Message], *, verdict: Verdict = Verdict.ESCALATE) -> Reply:
    """The scripted reply to a conversation; see the package docstring for the triggers."""
    if is_judge(messages):
        return Reply(text=verdict.value)
    if is_concierge([m.text for m in messages if m.role == "system"]):
        return _concierge(messages)
    if messages and messages[-1].role == "tool":
        return Reply(text=f"TOOL_DONE: {messages[-1].text}")
    users = [m for m in messages if m.role == "user"]
    last = users[-1].text if users else ""
    slow = bool(_SLOW.search(last))
    if _FAIL.search(last):
        return Reply(fail=True, slow=slow)
    mcp = _MCP.search(last)
    if mcp:
        return Reply(tool_call=_mcp_call(mcp, messages), slow=slow)
    run = _RUN.search(last)
    if run:
        command = run.group("command").strip()
        return Reply(tool_call=_call(command, messages), slow=slow)
    if _DANGER.search(last):
        return Reply(tool_call=_call(DANGER_COMMAND, messages), slow=slow)
    if _USE_TOOL.search(last):
        return Reply(tool_call=_call(TOOL_COMMAND, messages), slow=slow)
    if _RECALL.search(last):
        facts = remembered(messages)
        said = "; ".join(facts) if facts else "nothing yet"
        return Reply(text=f"I remember: {said}.", slow=slow)
    return Reply(
        text=f"Hello from the {LABEL} model. This is turn {len(users)} of our conversation.",
        slow=slow,
    )
