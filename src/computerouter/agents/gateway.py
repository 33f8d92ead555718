"""Each turn, tell the session's egress gateway who is calling and what the run may reach.

The gateway (see :mod:`computerouter.providers.egress.relay`) writes the session, sandbox,
agent and run on every line it logs for a refused destination: it learns the run from this
push, made before the turn starts, with the run's allowlist (the operator's ``egress_allow``
of the moment, so a change reaches a live session by its next turn, and the agent's own
rules, allowed while the run is in flight) and the runs in flight (it forgets the others).
When the run ends, :meth:`GatewayTurn.close` forgets it there at once.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from computerouter.compute.router import ComputeRouter
from computerouter.domain.agents import AgentRecord
from computerouter.domain.session import SessionRecord
from computerouter.errors import ComputeRouterError
from computerouter.providers.base import EgressControl
from computerouter.runtimes.base import AgentRuntime, GatewayEgress

__all__ = ["GatewayTurn"]

log = logging.getLogger(__name__)


class GatewayTurn:
    """``with GatewayTurn(...).start(session):`` the gateway knows the run while it runs.
    Nothing where the runtime or provider has no gateway; a gateway that cannot be told is
    logged, not fatal (it still refuses what the operator has not allowed)."""

    def __init__(
        self, *, compute: ComputeRouter, runtime: AgentRuntime, agent: AgentRecord, run_id: str
    ) -> None:
        self._compute = compute
        self._runtime = runtime if isinstance(runtime, GatewayEgress) else None
        self._agent = agent
        self._run_id = run_id
        self._told: tuple[EgressControl, str, str] | None = None

    def needed(self, session: SessionRecord) -> bool:
        """The session has a gateway route this run must tell."""
        provider = self._compute.providers.get(session.provider)
        return (
            self._runtime is not None
            and isinstance(provider, EgressControl)
            and session.instance_id is not None
        )

    def start(self, session: SessionRecord, *, active: tuple[str, ...]) -> None:
        """``active``: the session's runs in flight (the gateway forgets the others)."""
        provider = self._compute.provider(session.provider)
        runtime = self._runtime
        if runtime is None or not isinstance(provider, EgressControl):
            return
        if session.instance_id is None:
            return
        labels = (
            ("session", session.id),
            ("sandbox", session.sandbox_id),
            ("user", session.user_id),
            ("agent", self._agent.id),
            ("run", self._run_id),
        )
        route, turn = runtime.gateway_egress(labels, self._agent.settings.egress_rules)
        try:
            provider.configure_egress(session.instance_id, route, replace(turn, active=active))
        except ComputeRouterError as exc:
            log.warning("run %s: the egress gateway was not told: %s", self._run_id, exc)
            return
        self._told = (provider, session.instance_id, route)

    def close(self) -> None:
        """Forget the run (and its agent's rules) at the gateway."""
        if self._told is None:
            return
        provider, instance_id, route = self._told
        self._told = None
        try:
            provider.egress_meter(instance_id, route, self._run_id, end=True)
        except ComputeRouterError as exc:
            log.warning("run %s: the egress gateway did not forget it: %s", self._run_id, exc)
