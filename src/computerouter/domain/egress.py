"""What a session's egress relay is told at each turn, and what it reports back.

A relay is started with its session, but follows the configuration of each turn: before a turn
the control plane pushes an :class:`EgressTurn` (the current endpoint, key and model name, and
the run's :class:`EgressBudget`) over a host-side control channel the session cannot reach; the
relay meters the run's model calls against that budget and reports an :class:`EgressMeter`.
"""

from __future__ import annotations

from dataclasses import dataclass

from computerouter.domain.gateway import AllowRule

__all__ = ["EgressBudget", "EgressFailure", "EgressMeter", "EgressTurn"]


@dataclass(frozen=True, kw_only=True, slots=True)
class EgressBudget:
    """What one run may spend through the relay, in micro-credits, and at what prices."""

    run_id: str
    limit: int
    """The run's hold: its model calls and its running time together stop there."""
    input_per_mtok: int
    output_per_mtok: int
    compute_per_ms: int = 0
    """The session's compute rate, ``compute_per_ms / rate_denominator`` per millisecond."""
    rate_denominator: int = 1
    started_at: float = 0.0
    """When the run began (its running time counts from here)."""

    def as_json(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "limit": self.limit,
            "input_per_mtok": self.input_per_mtok,
            "output_per_mtok": self.output_per_mtok,
            "compute_per_ms": self.compute_per_ms,
            "rate_denominator": self.rate_denominator,
            "started_at": self.started_at,
        }

    def compute_cost(self, elapsed_s: float) -> int:
        """Micro-credits of ``elapsed_s`` seconds of the session's running time."""
        return max(0, int(elapsed_s * 1000)) * self.compute_per_ms // self.rate_denominator


@dataclass(frozen=True, kw_only=True, slots=True)
class EgressTurn:
    """The endpoint a relay forwards to from this turn on (credentials in ``headers``)."""

    upstream: str
    headers: tuple[tuple[str, str], ...] = ()
    model: str = ""
    """Model name put into each model call ('' leaves the runtime's)."""
    budget: EgressBudget | None = None
    active: tuple[str, ...] | None = None
    """The runs in flight on the session: the relay forgets budgets of any other (a run whose
    control plane died). ``None``: leave them."""
    allow: tuple[AllowRule, ...] | None = None
    """A gateway route's allowlist from now on (``None``: leave it)."""
    labels: tuple[tuple[str, str], ...] = ()
    """Who is calling this turn (``session``, ``sandbox``, ``agent``, ``run``): a gateway
    route writes them on each line it logs."""

    def __repr__(self) -> str:  # never print the headers: they hold credentials
        return f"EgressTurn(upstream={self.upstream!r}, model={self.model!r}, headers=<redacted>)"


@dataclass(frozen=True, kw_only=True, slots=True)
class EgressFailure:
    """The last call the relay could not complete: which endpoint (never its key), and how."""

    url: str
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class EgressMeter:
    """What a run spent through the relay so far (worst cases of calls still in flight
    included), and the calls it refused for want of credit."""

    run_id: str
    spent: int = 0
    calls: int = 0
    refused: int = 0
    input_tokens: int = 0
    """Tokens the endpoint reported (``usage``), not worst cases."""
    output_tokens: int = 0
    upstream: str = ""
    last_error: EgressFailure | None = None
