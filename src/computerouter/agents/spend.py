"""A run's spend watch: each turn, tell the session's egress relay the current model endpoint
and the run's budget; stop the run when its spend reaches its hold; say which endpoint failed.

Before the turn starts, :meth:`RunSpend.start` pushes the runtime's current endpoint, key and
model name (``ModelEgress.model_egress``) to the relay, with the run's budget when it is billed:
its hold, the model's prices and the session's compute rate. The relay caps and meters every
model call against it (see :mod:`computerouter.providers.egress.relay`); a thread here watches
the two together (the relay's spend plus the run's running time) and stops the turn when they
reach the hold. :meth:`RunSpend.close` reads the run's final meter, so tokens the relay saw but
the runtime did not report (a run stopped part way) are billed too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace

from computerouter.compute.router import ComputeRouter
from computerouter.domain.egress import EgressBudget, EgressMeter
from computerouter.domain.session import SessionRecord
from computerouter.errors import ComputeRouterError
from computerouter.ledger import Ledger, format_credits
from computerouter.ledger.prices import RATE_DENOMINATOR
from computerouter.providers.base import EgressControl
from computerouter.runtimes.base import AgentRuntime, ModelEgress

__all__ = ["CREDIT", "RunSpend"]

log = logging.getLogger(__name__)

CREDIT = "credit"
"""``run.failed`` code of a run stopped because its spend reached its credit hold."""


class RunSpend:
    def __init__(
        self,
        *,
        compute: ComputeRouter,
        runtime: AgentRuntime,
        session: SessionRecord,
        run_id: str,
        stop: Callable[[], None],
        interval_s: float = 0.25,
    ) -> None:
        self._compute = compute
        self._session = session
        self._run_id = run_id
        self._stop_turn = stop
        self._interval_s = interval_s
        self._done = threading.Event()
        self._watch: threading.Thread | None = None
        self.stopped = False
        """The run was stopped (or refused a call) because its spend reached its hold."""
        self.budget: EgressBudget | None = None
        self.route = ""
        self.model = ""
        provider = compute.provider(session.provider)
        self._egress = provider if isinstance(provider, EgressControl) else None
        self._runtime = runtime if isinstance(runtime, ModelEgress) else None

    @property
    def needed(self) -> bool:
        """The session's model calls go through a relay this run configures and meters."""
        return (
            self._egress is not None
            and self._runtime is not None
            and self._session.instance_id is not None
        )

    def start(self, *, active: tuple[str, ...]) -> None:
        """Configure the relay for this turn (raises if the relay cannot be told);
        ``active``: the session's runs in flight (the relay forgets the others)."""
        if self._egress is None or self._runtime is None or self._session.instance_id is None:
            return
        self.route, turn = self._runtime.model_egress()
        self.model = turn.model
        self.budget = self._budget(turn.model)
        self._egress.configure_egress(
            self._session.instance_id,
            self.route,
            replace(turn, budget=self.budget, active=active),
        )
        if self.budget is not None:
            self._watch = threading.Thread(
                target=self._watch_spend, name=f"spend-{self._run_id}", daemon=True
            )
            self._watch.start()

    def _budget(self, model: str) -> EgressBudget | None:
        gate = self._compute.credit_gate
        if not isinstance(gate, Ledger):
            return None
        ceiling = gate.ceiling(self._run_id)
        run = self._compute.store.runs.get(self._run_id)
        if ceiling is None or run is None:
            return None
        price = gate.prices.model_price(model)
        session = self._session
        rate = gate.prices.compute_price(session.provider, session.region).rate(session.resources)
        return EgressBudget(
            run_id=self._run_id,
            limit=ceiling,
            input_per_mtok=price.input_per_mtok,
            output_per_mtok=price.output_per_mtok,
            compute_per_ms=rate.per_ms,
            rate_denominator=RATE_DENOMINATOR,
            started_at=run.started_at,
        )

    def meter(self, *, end: bool = False) -> EgressMeter | None:
        if self._egress is None or not self.route or self._session.instance_id is None:
            return None
        try:
            return self._egress.egress_meter(
                self._session.instance_id, self.route, self._run_id, end=end
            )
        except ComputeRouterError as exc:
            log.warning("run %s: could not read the egress meter: %s", self._run_id, exc)
            return None

    def _watch_spend(self) -> None:
        budget = self.budget
        assert budget is not None
        clock = self._compute.clock
        while not self._done.wait(self._interval_s):
            meter = self.meter()
            spent = 0 if meter is None else meter.spent
            ran = budget.compute_cost(clock.now() - budget.started_at)
            if (meter is not None and meter.refused) or spent + ran >= budget.limit:
                self.stopped = True
                self._stop_turn()
                return

    def exhausted(self) -> bool:
        """True when the run was stopped, or its relay refused a call, for want of credit."""
        if self.stopped:
            return True
        meter = self.meter() if self.budget is not None else None
        self.stopped = meter is not None and meter.refused > 0
        return self.stopped

    def credit_message(self) -> str:
        held = "" if self.budget is None else f" of {format_credits(self.budget.limit)} credits"
        return (
            f"the run was stopped: its spend (model calls and running time) reached its credit "
            f"hold{held}; add credit or raise the budget's run_max"
        )

    def failure_note(self, error: str) -> str:
        """``"; <what happened at the model endpoint URL>"`` when the relay saw a call fail and
        ``error`` does not say so already."""
        meter = self.meter()
        if meter is None or meter.last_error is None or meter.last_error.url in error:
            return ""
        return f"; {meter.last_error.message}"

    def close(self) -> EgressMeter | None:
        """Stop watching; the run's final meter (the relay forgets the run)."""
        self._done.set()
        if self._watch is not None:
            self._watch.join(timeout=5.0)
        return self.meter(end=True) if self.budget is not None else None
