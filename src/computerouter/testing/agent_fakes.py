"""A fake agent runtime: scripted turns with the same event shapes a real runtime produces."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx

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
from computerouter.domain.values import LaunchSpec
from computerouter.errors import RuntimeFailure
from computerouter.runtimes.base import EventContext, TurnRequest

__all__ = ["FakeAgentRuntime", "FakeTurn"]


class FakeTurn:
    """Replies ``echo: <input>``; ``TOOL`` adds a tool call, ``DANGER`` waits for an approval,
    ``FAIL`` fails, ``HANG`` waits until cancelled."""

    def __init__(self, request: TurnRequest, context: EventContext, history: list[str]) -> None:
        self._request = request
        self._context = context
        self._history = history
        self._approval: str | None = None
        self._answered = threading.Event()
        self._cancelled = threading.Event()

    def events(self) -> Iterator[AgentEvent]:
        make = self._context.make
        text = self._request.input
        if "FAIL" in text:
            yield make(RunFailed, error="model endpoint returned HTTP 500", code="runtime_failed")
            return
        if "HANG" in text:
            self._cancelled.wait(30)
            yield make(RunCancelled)
            return
        if "TOOL" in text:
            yield make(ToolStarted, tool="terminal", preview="echo hi")
            yield make(ToolCompleted, tool="terminal", duration_s=0.01)
        if "DANGER" in text:
            yield make(ApprovalRequested, command="rm -rf /tmp/x", choices=("once", "deny"))
            self._answered.wait(30)
            yield make(ApprovalResolved, choice=self._approval or "deny")
        self._history.append(text)
        reply = f"echo: {text} (turn {len(self._history)})"
        for word in reply.split(" "):
            yield make(MessageDelta, delta=word + " ")
        yield make(
            Usage,
            input_tokens=len(text.split()),
            output_tokens=len(reply.split()),
            total_tokens=len(text.split()) + len(reply.split()),
            model="fake",
        )
        yield make(RunCompleted, output=reply)

    def respond_approval(self, choice: str) -> None:
        self._approval = choice
        self._answered.set()

    def cancel(self) -> None:
        self._cancelled.set()
        self._answered.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()


class FakeAgentRuntime:
    name = "hermes"

    def __init__(self) -> None:
        self.conversations: dict[str, list[str]] = {}
        self.turns: list[FakeTurn] = []
        self.fail_start = False

    def launch_spec(self, *, session_id: str) -> LaunchSpec:
        return LaunchSpec(runtime=self.name, argv=("true",))

    def check(self, client: httpx.Client) -> None:
        return None

    def headers(self, session_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer fake-{session_id}"}

    def start_turn(
        self, client: httpx.Client, request: TurnRequest, context: EventContext
    ) -> FakeTurn:
        if self.fail_start:
            raise RuntimeFailure("runtime refused the turn")
        turn = FakeTurn(request, context, self.conversations.setdefault(request.conversation, []))
        self.turns.append(turn)
        return turn
