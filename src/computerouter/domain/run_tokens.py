"""Run tokens as values: the bearer a run's calls to the router's MCP host carry.

A run token is issued when a run starts and names exactly one (user, sandbox, agent, run); it
expires at the run's ceiling and is revoked when the run ends, fails or is cancelled. The
session never holds it: the session's egress route to the MCP host stamps it on the way out.
Only a hash of its secret is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AUDIENCES", "MCP_HOST", "OPERATOR", "RunToken"]

MCP_HOST = "mcp-host"
"""The router's MCP host: the run reads its own sandbox (usage, sessions, workspace)."""
OPERATOR = "operator"
"""The operator's API, as the run's user (never as an admin): a Concierge run."""
AUDIENCES = (MCP_HOST, OPERATOR)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunToken:
    id: str
    secret_hash: str
    user_id: str
    sandbox_id: str
    agent_id: str
    run_id: str
    issued_at: float
    expires_at: float
    """The run's ceiling: past it the token is refused even if the run never ended."""
    revoked_at: float | None = None
    audience: str = MCP_HOST
    """Where the token is accepted: :data:`MCP_HOST` or :data:`OPERATOR`, never both."""
    destructive: bool = False
    """The caller confirmed destructive operations for this run (``--yes``)."""

    def __post_init__(self) -> None:
        if self.audience not in AUDIENCES:
            raise ValueError(f"unknown run token audience {self.audience!r}")

    def live(self, now: float) -> bool:
        """Neither revoked nor expired at ``now``."""
        return self.revoked_at is None and now < self.expires_at

    def refusal(self, now: float) -> str:
        """Why the token is refused at ``now`` ('' when it is live)."""
        if self.revoked_at is not None:
            return f"the token of run {self.run_id} was revoked (the run is over)"
        if now >= self.expires_at:
            return f"the token of run {self.run_id} has expired"
        return ""
