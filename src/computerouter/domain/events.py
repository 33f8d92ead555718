"""Neutral AgentEvents: what a run streams back, whatever the provider and the runtime.

Every runtime translates its own event shapes into these at its boundary, once; clients (CLI,
SDK, REST/SSE, OpenAI-compatible endpoint) only ever see these. Each event carries the run's
attribution (``run_id``, ``agent_id``, ``sandbox_id``, ``user_id``), a timestamp ``at``
(seconds since the epoch) and a per-run sequence number ``seq``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

__all__ = [
    "EVENT_TYPES",
    "AgentEvent",
    "ApprovalRequested",
    "ApprovalResolved",
    "MessageDelta",
    "RunCancelled",
    "RunCompleted",
    "RunFailed",
    "RunStarted",
    "SessionReady",
    "ToolCompleted",
    "ToolStarted",
    "Usage",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentEvent:
    type: ClassVar[str] = "event"
    run_id: str
    agent_id: str
    sandbox_id: str
    user_id: str
    at: float
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass(frozen=True, kw_only=True, slots=True)
class RunStarted(AgentEvent):
    """The run was accepted; its session is ready."""

    type: ClassVar[str] = "run.started"
    session_id: str
    provider: str
    runtime: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionReady(AgentEvent):
    """How the run's session was made ready (created, resumed, restored) and how long it took."""

    type: ClassVar[str] = "session.ready"
    session_id: str
    provider: str
    how: str
    took_ms: float


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageDelta(AgentEvent):
    """A piece of the assistant's reply text."""

    type: ClassVar[str] = "message.delta"
    delta: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolStarted(AgentEvent):
    type: ClassVar[str] = "tool.started"
    tool: str
    preview: str = ""
    call_id: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCompleted(AgentEvent):
    type: ClassVar[str] = "tool.completed"
    tool: str
    duration_s: float = 0.0
    error: bool = False
    call_id: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalRequested(AgentEvent):
    """The runtime wants a person to allow or deny a risky action before it goes on."""

    type: ClassVar[str] = "approval.requested"
    command: str
    description: str = ""
    choices: tuple[str, ...] = ("once", "deny")


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalResolved(AgentEvent):
    type: ClassVar[str] = "approval.resolved"
    choice: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Usage(AgentEvent):
    """Tokens the model used for this run (what the token-cost ledger entry is priced from)."""

    type: ClassVar[str] = "usage"
    input_tokens: int
    output_tokens: int
    total_tokens: int
    model: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class RunCompleted(AgentEvent):
    type: ClassVar[str] = "run.completed"
    output: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RunFailed(AgentEvent):
    type: ClassVar[str] = "run.failed"
    error: str
    code: str = "run_failed"


@dataclass(frozen=True, kw_only=True, slots=True)
class RunCancelled(AgentEvent):
    type: ClassVar[str] = "run.cancelled"
    reason: str = field(default="cancelled")


EVENT_TYPES: dict[str, type[AgentEvent]] = {
    cls.type: cls
    for cls in (
        RunStarted,
        SessionReady,
        MessageDelta,
        ToolStarted,
        ToolCompleted,
        ApprovalRequested,
        ApprovalResolved,
        Usage,
        RunCompleted,
        RunFailed,
        RunCancelled,
    )
}
"""Every event type by its wire name; the SDK decodes with this table."""
