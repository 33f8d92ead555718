"""Per-run credentials: a fresh bearer for each run's calls to the router's MCP host.

A token reads ``<token id>.<secret>``: the id finds the row, the 32-byte random secret is
checked against its SHA-256 in constant time (a secret of 256 bits needs no slow hash). It names
one (user, sandbox, agent, run), expires at the run's ceiling and is revoked when the run ends,
fails or is cancelled (:meth:`RunCredential.revoke`, called by a cancel at once).

The session never holds the token. :meth:`RunCredential.start` hands it to the session's
``mcp`` egress route on the host side (``McpEgress.mcp_egress``), which stamps
``Authorization: Bearer <token>`` on each request going out to the MCP host while the run is in
flight, and forgets it when the run ends.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import replace

from computerouter.compute.router import ComputeRouter
from computerouter.domain.agents import AgentRecord
from computerouter.domain.clock import Clock
from computerouter.domain.ids import new_id
from computerouter.domain.run_tokens import MCP_HOST, RunToken
from computerouter.domain.session import SessionRecord
from computerouter.errors import ComputeRouterError, Unauthorized
from computerouter.providers.base import EgressControl
from computerouter.runtimes.base import AgentRuntime, McpEgress
from computerouter.store.run_tokens import RunTokenStore

__all__ = ["TOKEN_PREFIX", "RunCredential", "RunTokens"]

TOKEN_PREFIX = "rtk"

McpHostUrl = Callable[[], str]
"""The URL of the router's MCP host in this process (started on first call)."""

log = logging.getLogger(__name__)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class RunTokens:
    """Issue, verify and revoke run tokens over :class:`RunTokenStore`, on ``clock``."""

    def __init__(self, store: RunTokenStore, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def issue(
        self,
        *,
        user_id: str,
        sandbox_id: str,
        agent_id: str,
        run_id: str,
        expires_at: float,
        audience: str = MCP_HOST,
        destructive: bool = False,
    ) -> tuple[RunToken, str]:
        """A new token for one run and its plaintext (handed to the egress route only)."""
        secret = secrets.token_urlsafe(32)
        token = RunToken(
            id=new_id(TOKEN_PREFIX),
            secret_hash=_hash(secret),
            user_id=user_id,
            sandbox_id=sandbox_id,
            agent_id=agent_id,
            run_id=run_id,
            issued_at=self._clock.now(),
            expires_at=expires_at,
            audience=audience,
            destructive=destructive,
        )
        self._store.issue(token)
        return token, f"{token.id}.{secret}"

    def verify(self, presented: str, *, audience: str = MCP_HOST) -> RunToken:
        """The live token ``presented`` is, if it was issued for ``audience``;
        :class:`Unauthorized` for anything else (unknown, malformed, expired, revoked, or meant
        for the other endpoint)."""
        token_id, _, secret = presented.strip().partition(".")
        if not token_id.startswith(f"{TOKEN_PREFIX}_") or not secret:
            raise Unauthorized("not a run token")
        found = self._store.get(token_id)
        if found is None or not hmac.compare_digest(found.secret_hash, _hash(secret)):
            raise Unauthorized("unknown run token")
        why = found.refusal(self._clock.now())
        if why:
            raise Unauthorized(why)
        if found.audience != audience:
            raise Unauthorized(
                f"this run token is not accepted here (it is for the {found.audience})"
            )
        return found

    def revoke_run(self, run_id: str) -> int:
        return self._store.revoke_run(run_id, now=self._clock.now())

    def verify_in_flight(
        self, presented: str, compute: ComputeRouter, *, audience: str = MCP_HOST
    ) -> RunToken:
        """As :meth:`verify`, and its run must still be in flight (a control plane that died
        mid-run left a token nobody revoked; the run's end in the store is what counts)."""
        token = self.verify(presented, audience=audience)
        run = compute.store.runs.get(token.run_id)
        if run is None or run.ended_at is not None:
            raise Unauthorized(f"run {token.run_id} is not in flight")
        return token


class RunCredential:
    """One run's token: issued and handed to the session's MCP route by :meth:`start`,
    revoked by :meth:`revoke` (from any thread) and by :meth:`close`. Nothing where the
    runtime has no MCP route or the provider no host-side egress."""

    def __init__(
        self,
        *,
        compute: ComputeRouter,
        tokens: RunTokens,
        runtime: AgentRuntime,
        agent: AgentRecord,
        run_id: str,
        destructive: bool = False,
    ) -> None:
        """``destructive``: the caller confirmed destructive operations for this run."""
        self._compute = compute
        self._tokens = tokens
        self._runtime = runtime if isinstance(runtime, McpEgress) else None
        self._agent = agent
        self._run_id = run_id
        self._destructive = destructive
        self._issued = False
        self._told: tuple[EgressControl, str, str] | None = None
        self._guard = threading.Lock()

    def needed(self, session: SessionRecord) -> bool:
        """The session has an MCP route this run's token must be handed to."""
        provider = self._compute.providers.get(session.provider)
        runtime = self._runtime
        return (
            runtime is not None
            and isinstance(provider, EgressControl)
            and session.instance_id is not None
            and runtime.has_mcp_host()
        )

    def start(self, session: SessionRecord, *, expires_at: float, active: tuple[str, ...]) -> None:
        """``active``: the session's runs in flight (the route forgets the bearers of any
        other: a control plane that died left them)."""
        provider = self._compute.provider(session.provider)
        runtime = self._runtime
        if runtime is None or not isinstance(provider, EgressControl):
            return
        if session.instance_id is None or not runtime.has_mcp_host():
            return
        _, plaintext = self._tokens.issue(
            user_id=session.user_id,
            sandbox_id=session.sandbox_id,
            agent_id=self._agent.id,
            run_id=self._run_id,
            expires_at=expires_at,
            audience=runtime.mcp_audience,
            destructive=self._destructive,
        )
        with self._guard:
            self._issued = True
        route, turn = runtime.mcp_egress(plaintext, run_id=self._run_id)
        try:
            provider.configure_egress(session.instance_id, route, replace(turn, active=active))
        except ComputeRouterError as exc:
            log.warning("run %s: the MCP route was not given its token: %s", self._run_id, exc)
            return
        self._told = (provider, session.instance_id, route)

    def revoke(self) -> None:
        """Revoke the run's token now (a cancel); the MCP host refuses it from the next call."""
        with self._guard:
            if not self._issued:
                return
        try:
            self._tokens.revoke_run(self._run_id)
        except ComputeRouterError as exc:  # it still expires at the run's ceiling
            log.warning("run %s: its run token was not revoked: %s", self._run_id, exc)

    def close(self) -> None:
        """Revoke the token and make the MCP route forget it."""
        self.revoke()
        if self._told is None:
            return
        provider, instance_id, route = self._told
        self._told = None
        try:
            provider.egress_meter(instance_id, route, self._run_id, end=True)
        except ComputeRouterError as exc:
            log.warning("run %s: the MCP route did not forget its token: %s", self._run_id, exc)
