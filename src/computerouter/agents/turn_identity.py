"""Each turn, the identity a remote session proves itself with at the router's gateway.

Where a session's egress goes through the router's remote gateway (a remote provider's
sandbox: :class:`~computerouter.providers.base.TurnIdentity`), :meth:`TurnPass.start` mints a
fresh identity for the run and returns the headers that carry it with the turn's calls to the
runtime; the session bridge takes it off those calls and keeps it in memory only. The
session's earlier identity stops serving at once; this one stops when the run ends
(:meth:`TurnPass.close`), at a cancel (:meth:`TurnPass.revoke`, from any thread), or at its
expiry (the run's ceiling).
"""

from __future__ import annotations

import logging
import threading

from computerouter.compute.router import ComputeRouter
from computerouter.domain.agents import AgentRecord
from computerouter.domain.session import SessionRecord
from computerouter.errors import ComputeRouterError
from computerouter.providers.base import TurnIdentity
from computerouter.runtimes.base import Runtime

__all__ = ["TurnPass"]

log = logging.getLogger(__name__)


class TurnPass:
    def __init__(self, *, compute: ComputeRouter, agent: AgentRecord, run_id: str) -> None:
        self._compute = compute
        self._agent = agent
        self._run_id = run_id
        self._issued: tuple[TurnIdentity, str, str] | None = None
        self._guard = threading.Lock()

    def adopt(self, session: SessionRecord, runtime: Runtime) -> None:
        """Before the turn's routes are configured: a session placed by an earlier process
        has its routes made known to this one's gateway."""
        provider = self._compute.provider(session.provider)
        if not isinstance(provider, TurnIdentity) or session.instance_id is None:
            return
        try:
            provider.adopt_egress(session.instance_id, runtime.launch_spec(session_id=session.id))
        except ComputeRouterError as exc:
            log.warning("run %s: the gateway did not adopt the session: %s", self._run_id, exc)

    def start(self, session: SessionRecord, *, expires_at: float) -> dict[str, str]:
        """The headers to send with this turn's calls (none where there is no gateway)."""
        provider = self._compute.provider(session.provider)
        if not isinstance(provider, TurnIdentity) or session.instance_id is None:
            return {}
        labels = (
            ("session", session.id),
            ("sandbox", session.sandbox_id),
            ("user", session.user_id),
            ("agent", self._agent.id),
            ("run", self._run_id),
        )
        try:
            headers = provider.issue_identity(
                session.instance_id, run_id=self._run_id, labels=labels, expires_at=expires_at
            )
        except ComputeRouterError as exc:
            log.warning("run %s: no turn identity was issued: %s", self._run_id, exc)
            return {}
        with self._guard:
            self._issued = (provider, session.instance_id, session.id)
        return dict(headers)

    def revoke(self, reason: str = "its run was cancelled") -> None:
        with self._guard:
            issued = self._issued
        if issued is None:
            return
        provider, instance_id, session_id = issued
        try:
            others = tuple(
                run.run_id
                for run in self._compute.store.runs.in_flight(session_id)
                if run.run_id != self._run_id
            )
            provider.revoke_identity(instance_id, self._run_id, reason=reason, active=others)
        except ComputeRouterError as exc:  # it still expires at the run's ceiling
            log.warning("run %s: its turn identity was not revoked: %s", self._run_id, exc)

    def close(self) -> None:
        self.revoke("its run ended")
