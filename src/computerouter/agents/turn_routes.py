"""A turn's ways out of its session: told the run before the turn, made to forget it after.

Four of them, each its own module: the model relay (:class:`RunSpend`: the endpoint, the run's
budget, its meter), the egress gateway (:class:`GatewayTurn`: who is calling, the allowlist),
the MCP route (:class:`RunCredential`: the run's bearer) and, for a remote session, the turn
identity (:class:`TurnPass`). Only those that apply to the session are told; they are told side
by side while the runtime reads what it needs ahead of the turn (each mostly waits on another
process, so the setup costs about the slowest of them), and they forget the run side by side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress

import httpx

from computerouter.agents.gateway import GatewayTurn
from computerouter.agents.run_token import RunCredential, RunTokens
from computerouter.agents.spend import RunSpend
from computerouter.agents.together import together
from computerouter.agents.turn_identity import TurnPass
from computerouter.compute.router import ComputeRouter
from computerouter.domain.agents import AgentRecord
from computerouter.domain.egress import EgressMeter
from computerouter.domain.session import SessionRecord
from computerouter.errors import ComputeRouterError
from computerouter.runtimes.base import AgentRuntime, TurnPreparation, TurnRequest

__all__ = ["TurnRoutes"]

log = logging.getLogger(__name__)


class TurnRoutes:
    def __init__(
        self,
        *,
        compute: ComputeRouter,
        tokens: RunTokens,
        runtime: AgentRuntime,
        agent: AgentRecord,
        session: SessionRecord,
        run_id: str,
        destructive: bool,
        stop: Callable[[], None],
    ) -> None:
        """``stop``: stops the turn (the spend watch calls it when the run's hold is spent)."""
        self._compute = compute
        self._runtime = runtime
        self._session = session
        self._run_id = run_id
        self.turn_pass = TurnPass(compute=compute, agent=agent, run_id=run_id)
        self.turn_pass.adopt(session, runtime)
        self.spend = RunSpend(
            compute=compute, runtime=runtime, session=session, run_id=run_id, stop=stop
        )
        self.gateway = GatewayTurn(compute=compute, runtime=runtime, agent=agent, run_id=run_id)
        self.credential = RunCredential(
            compute=compute,
            tokens=tokens,
            runtime=runtime,
            agent=agent,
            run_id=run_id,
            destructive=destructive,
        )

    def open(self, client: httpx.Client, request: TurnRequest, *, expires_at: float) -> TurnRequest:
        """Tell the routes the run (and give ``client`` the session's identity this turn);
        ``request`` with what the runtime read ahead."""
        session = self._session
        client.headers.update(self.turn_pass.start(session, expires_at=expires_at))
        steps: list[Callable[[], None]] = []
        active: tuple[str, ...] = ()
        if self.spend.needed:
            steps.append(lambda: self._start_spend(active))
        if self.gateway.needed(session):
            steps.append(lambda: self.gateway.start(session, active=active))
        if self.credential.needed(session):
            steps.append(
                lambda: self.credential.start(session, expires_at=expires_at, active=active)
            )
        if steps:  # each route forgets the runs no longer in flight (a control plane died)
            active = tuple(r.run_id for r in self._compute.store.runs.in_flight(session.id))
        prepared = [request]
        runtime = self._runtime
        if isinstance(runtime, TurnPreparation):

            def prepare() -> None:
                # A read that fails is done again by the turn, which reports it.
                with suppress(ComputeRouterError):
                    prepared[0] = runtime.prepare_turn(client, request)

            steps.append(prepare)
        together(*steps)
        return prepared[0]

    def _start_spend(self, active: tuple[str, ...]) -> None:
        try:
            self.spend.start(active=active)
        except ComputeRouterError as exc:
            # The ledger still caps what the run is billed at its hold.
            log.warning("run %s: the egress relay was not reconfigured: %s", self._run_id, exc)

    def revoke(self) -> None:
        """A cancel (from any thread): the run's token and turn identity stop working now,
        not when the turn ends."""
        self.credential.revoke()
        self.turn_pass.revoke()

    def close(self, bill: Callable[[EgressMeter | None], None]) -> None:
        """Every route forgets the run; ``bill`` gets the model relay's final meter."""
        session = self._session
        steps: list[Callable[[], None]] = [self.turn_pass.close]
        if self.credential.needed(session):
            steps.append(self.credential.close)
        if self.gateway.needed(session):
            steps.append(self.gateway.close)
        if self.spend.needed:
            steps.append(lambda: bill(self.spend.close()))
        together(*steps)
