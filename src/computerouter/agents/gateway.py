"""Each turn, tell the session's egress gateway who is calling and what it may reach.

The gateway (see :mod:`computerouter.providers.egress.relay`) writes the session, sandbox,
agent and run on every line it logs for a refused destination: it learns the run from this
push, made before the turn starts, with the allowlist of the moment (so a changed
``egress_allow`` reaches a live session by its next turn) and the runs in flight (it forgets
the others).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from computerouter.compute.router import ComputeRouter
from computerouter.domain.session import SessionRecord
from computerouter.errors import ComputeRouterError
from computerouter.providers.base import EgressControl
from computerouter.runtimes.base import AgentRuntime, GatewayEgress

__all__ = ["tell_gateway"]

log = logging.getLogger(__name__)


def tell_gateway(
    compute: ComputeRouter,
    runtime: AgentRuntime,
    session: SessionRecord,
    *,
    run_id: str,
    agent_id: str,
) -> None:
    """Push this turn's labels and allowlist (nothing where the runtime or provider has no
    gateway); a gateway that cannot be told is logged, not fatal: it still refuses."""
    provider = compute.provider(session.provider)
    if not isinstance(runtime, GatewayEgress) or not isinstance(provider, EgressControl):
        return
    if session.instance_id is None:
        return
    labels = (
        ("session", session.id),
        ("sandbox", session.sandbox_id),
        ("user", session.user_id),
        ("agent", agent_id),
        ("run", run_id),
    )
    route, turn = runtime.gateway_egress(labels)
    active = tuple(r.run_id for r in compute.store.runs.in_flight(session.id))
    try:
        provider.configure_egress(session.instance_id, route, replace(turn, active=active))
    except ComputeRouterError as exc:
        log.warning("run %s: the egress gateway was not told of the turn: %s", run_id, exc)
