"""The credit gate seam: what the run path asks of a ledger around each run.

``ComputeRouter.open_run`` calls :meth:`~CreditGate.reserve` before it touches a session and
:meth:`~CreditGate.settle` when the run ends; whoever reads the run's events (the AgentRouter)
passes each ``Usage`` event to :meth:`~CreditGate.record_usage` (``router.credit_gate``).
:class:`~computerouter.ledger.ledger.Ledger` implements it; the router holds one or none.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["CreditGate"]


class CreditGate(Protocol):
    def reserve(self, *, user_id: str, sandbox_id: str, agent_id: str, run_id: str) -> None:
        """Hold credit for a run before any session is touched; raise
        :class:`~computerouter.errors.InsufficientCredit` to refuse it. Idempotent per run."""
        ...

    def record_usage(
        self, run_id: str, *, model: str, input_tokens: int, output_tokens: int
    ) -> None:
        """The runtime reported the run's token use so far for ``model`` (totals, not
        increments; a repeat replaces). Called by whoever reads the run's events."""
        ...

    def release(self, run_id: str) -> None:
        """The run never began (no session could be had): give its hold back."""
        ...

    def settle(self, run_id: str, *, cpu_seconds: float | None = None) -> None:
        """The run ended: write its two entries and free its hold. Must not raise for billing
        trouble (the run itself is over); what fails is left for the repair pass."""
        ...
