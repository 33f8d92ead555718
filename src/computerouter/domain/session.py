"""The compute session record, as the store holds it and every layer above reads it."""

from __future__ import annotations

from dataclasses import dataclass

from computerouter.domain.states import SessionState
from computerouter.domain.values import Endpoint, Labels, Resources, SessionKey

__all__ = ["LifecycleDefaults", "RunRecord", "RunState", "SandboxSettings", "SessionRecord"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionRecord:
    id: str
    user_id: str
    sandbox_id: str
    provider: str
    runtime: str
    state: SessionState
    version: int
    resources: Resources
    created_at: float
    updated_at: float
    state_changed_at: float
    last_active_at: float
    region: str = ""
    instance_id: str | None = None
    endpoint: Endpoint | None = None
    agent_id: str = ""
    run_id: str = ""
    owner: str | None = None
    lease_expires_at: float | None = None
    error: str | None = None

    @property
    def key(self) -> SessionKey:
        return SessionKey(user_id=self.user_id, sandbox_id=self.sandbox_id)

    @property
    def labels(self) -> Labels:
        return Labels(
            session_id=self.id,
            user_id=self.user_id,
            sandbox_id=self.sandbox_id,
            agent_id=self.agent_id,
            run_id=self.run_id,
        )

    def idle_for(self, now: float) -> float:
        return max(0.0, now - self.last_active_at)

    def uptime(self, now: float) -> float:
        return max(0.0, now - self.created_at)


class RunState:
    """Run states as stored (plain strings; the run lifecycle belongs to AgentRouter)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"
    ENDED = frozenset({COMPLETED, FAILED, CANCELLED, ABANDONED})


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRecord:
    run_id: str
    session_id: str
    user_id: str
    sandbox_id: str
    agent_id: str
    state: str
    started_at: float
    heartbeat_at: float
    ended_at: float | None = None
    owner: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SandboxSettings:
    """Per-sandbox lifecycle overrides; ``None`` falls back to the router's defaults."""

    user_id: str
    sandbox_id: str
    idle_suspend_s: float | None = None
    archive_after_s: float | None = None
    max_run_s: float | None = None
    """Ceiling on one run's running time for the sandbox's agents (an agent's own wins)."""
    max_uptime_s: float | None = None
    """Ceiling on the uptime of the sandbox's session before a forced suspend."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LifecycleDefaults:
    """What a sandbox's unset (``None``) :class:`SandboxSettings` fall back to: the router's
    settings of the same names."""

    idle_suspend_s: float
    archive_after_s: float
    max_run_s: float
    max_uptime_s: float
