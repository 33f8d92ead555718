"""Hermes's own event shapes → neutral AgentEvents. The only place that knows them.

Hermes ``/v1/runs/{id}/events`` is server-sent events of ``data:`` lines only, with the type
inside the JSON (``payload["event"]``); comments (``: keepalive``, ``: stream closed``) carry
no data. Observed types (hermes-agent 0.19.0): message.delta, tool.started, tool.completed,
reasoning.available (in practice the final text again, so it is dropped), approval.request,
approval.responded, run.completed, run.failed, run.cancelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
from computerouter.runtimes.sse import parse_sse

__all__ = ["TERMINAL", "parse_sse", "translate"]

TERMINAL = frozenset({"run.completed", "run.failed", "run.cancelled"})


def _text(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def translate(
    payload: Mapping[str, Any], context: EventContext, *, model: str = ""
) -> list[AgentEvent]:
    """One Hermes run event → zero or more neutral events."""
    kind = payload.get("event")
    if kind == "message.delta":
        delta = _text(payload, "delta")
        return [context.make(MessageDelta, delta=delta)] if delta else []
    if kind == "tool.started":
        return [
            context.make(
                ToolStarted,
                tool=_text(payload, "tool"),
                preview=_text(payload, "preview"),
                call_id=_text(payload, "tool_call_id"),
            )
        ]
    if kind == "tool.completed":
        try:
            duration = float(payload.get("duration") or 0.0)
        except (TypeError, ValueError):
            duration = 0.0
        return [
            context.make(
                ToolCompleted,
                tool=_text(payload, "tool"),
                duration_s=duration,
                error=bool(payload.get("error")),
                call_id=_text(payload, "tool_call_id"),
            )
        ]
    if kind == "approval.request":
        choices = payload.get("choices") or ["once", "deny"]
        return [
            context.make(
                ApprovalRequested,
                command=_text(payload, "command"),
                description=_text(payload, "description"),
                choices=tuple(str(c) for c in choices),
            )
        ]
    if kind == "approval.responded":
        return [context.make(ApprovalResolved, choice=_text(payload, "choice"))]
    if kind == "run.completed":
        events: list[AgentEvent] = []
        usage = payload.get("usage")
        if isinstance(usage, Mapping):
            inp, out = _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))
            total = _int(usage.get("total_tokens")) or inp + out
            events.append(
                context.make(
                    Usage, input_tokens=inp, output_tokens=out, total_tokens=total, model=model
                )
            )
        events.append(context.make(RunCompleted, output=_text(payload, "output")))
        return events
    if kind == "run.failed":
        error = _text(payload, "error") or "the runtime reported a failure without a reason"
        return [context.make(RunFailed, error=error, code="runtime_failed")]
    if kind == "run.cancelled":
        return [context.make(RunCancelled)]
    return []
