"""AgentRouter: resolve an agent, ask ComputeRouter for its session, run the turn, stream events.

The seed's run path: ``run(agent address, input)`` → resolve the agent row → read its compute
settings (pin or policy) → ``ensure_session`` (held busy for the turn) → the turn on the runtime
in that session → neutral AgentEvents back to the caller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx

from computerouter import metrics
from computerouter.agents.ceiling import CEILING, RunCeiling
from computerouter.agents.run_token import McpHostUrl, RunTokens
from computerouter.agents.spend import CREDIT, RunSpend
from computerouter.agents.turn_routes import TurnRoutes
from computerouter.compute.offers import placement
from computerouter.compute.router import ComputeRouter, RunLease
from computerouter.domain.agents import (
    VENDOR_BACKENDS,
    AgentAddress,
    AgentRecord,
    ModelSettings,
    validate_slug,
)
from computerouter.domain.egress import EgressMeter
from computerouter.domain.events import (
    AgentEvent,
    ApprovalRequested,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    SessionReady,
    Usage,
)
from computerouter.domain.ids import new_id, new_run_id
from computerouter.domain.limits import INPUT_MAX_BYTES, PROMPT_MAX_BYTES, check_text
from computerouter.domain.placement import Candidate
from computerouter.domain.run_tokens import MCP_HOST
from computerouter.domain.session import RunState
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.errors import ComputeRouterError, InputError
from computerouter.providers.registration import registration
from computerouter.runtimes.base import (
    AgentRuntime,
    EventContext,
    McpEgress,
    TurnHandle,
    TurnRequest,
)
from computerouter.runtimes.transport import SessionClients
from computerouter.store.agents import AgentStore
from computerouter.store.run_tokens import RunTokenStore

__all__ = ["AgentRouter", "AgentRun"]

log = logging.getLogger(__name__)

_HOW = {
    None: "created",
    SessionState.RUNNING: "already running",
    SessionState.SUSPENDED: "resumed",
    SessionState.ARCHIVED: "restored",
}


class AgentRun:
    """One run in flight: iterate :meth:`events`; answer approvals; cancel from any thread."""

    def __init__(
        self,
        router: AgentRouter,
        agent: AgentRecord,
        text: str,
        run_id: str,
        region: str = "",
        *,
        destructive: bool = False,
        placed: tuple[Candidate, ...] = (),
    ) -> None:
        """``placed``: where the run was placed as it was admitted (else placed as it starts)."""
        self._router = router
        self._placed = placed
        self.destructive = destructive
        """The caller confirmed destructive operations (the Concierge's ``--yes``)."""
        self.agent = agent
        self.region = region
        """The caller's region, if the request named one (else the ``region`` setting)."""
        self.text = text
        self.run_id = run_id
        self._turn: TurnHandle | None = None
        self._cancelled = threading.Event()
        self._cancel_reason = ""
        self.outcome: str | None = None
        self._reported: tuple[str, int, int] | None = None
        self._spend_model = ""
        self._routes: TurnRoutes | None = None

    def respond_approval(self, choice: str) -> None:
        if self._turn is None:
            raise InputError("this run has no pending approval")
        self._turn.respond_approval(choice)

    def cancel(self, reason: str = "") -> None:
        self._cancel_reason = self._cancel_reason or reason
        self._cancelled.set()
        if self._routes is not None:
            self._routes.revoke()  # its token and turn identity stop working now
        if self._turn is not None:
            self._turn.cancel()

    def events(self) -> Iterator[AgentEvent]:
        for event in self._events():
            metrics.observe(event)
            yield event

    def _events(self) -> Iterator[AgentEvent]:
        compute = self._router.compute
        agent = self.agent
        key = SessionKey(user_id=agent.user_id, sandbox_id=agent.sandbox_id)
        context = EventContext(
            run_id=self.run_id,
            agent_id=agent.id,
            sandbox_id=agent.sandbox_id,
            user_id=agent.user_id,
        )
        runtime = self._router.runtime_for(agent)
        placed = self._placed or placement(compute, agent.settings, region=self.region).require()
        before = compute.store.sessions.find_live(key)
        started = time.perf_counter()
        with (
            compute.open_run(
                key,
                run_id=self.run_id,
                agent_id=agent.id,
                provider=placed,
                runtime=runtime.name,
                on_cancel=self.cancel,
                move_when_down=agent.settings.on_provider_down == "move",
            ) as lease,
            RunCeiling(
                compute=compute,
                lease=lease,
                agent_max_run_s=agent.settings.max_run_s,
                stop=self._stop,
            ) as ceiling,
        ):
            session = lease.session
            took_ms = (time.perf_counter() - started) * 1000
            how = _HOW.get(None if before is None else before.state, "ready")
            if before is not None and before.runtime != runtime.name:
                how = f"switched from the {before.runtime} runtime"
            yield context.make(
                SessionReady,
                session_id=session.id,
                provider=session.provider,
                how=how,
                took_ms=round(took_ms, 3),
            )
            yield context.make(
                RunStarted, session_id=session.id, provider=session.provider, runtime=runtime.name
            )
            if self._cancelled.is_set():
                lease.outcome = RunState.CANCELLED
                yield context.make(
                    RunCancelled, reason=self._cancel_reason or "cancelled before the turn started"
                )
                return
            yield from self._on_session(lease, ceiling, runtime, context)
            self.outcome = lease.outcome

    def _on_session(
        self,
        lease: RunLease,
        ceiling: RunCeiling,
        runtime: AgentRuntime,
        context: EventContext,
    ) -> Iterator[AgentEvent]:
        """The turn on a ready session, between its routes being told the run and forgetting
        it."""
        compute = self._router.compute
        agent = self.agent
        session = lease.session
        assert session.endpoint is not None
        routes = TurnRoutes(
            compute=compute,
            tokens=self._router.run_tokens,
            runtime=runtime,
            agent=agent,
            session=session,
            run_id=self.run_id,
            destructive=self.destructive,
            stop=self._stop,
        )
        self._routes = routes
        expires_at = lease.deadline or lease.started_at + ceiling.limit_s
        request = TurnRequest(
            run_id=self.run_id,
            input=self.text,
            instructions=agent.prompt,
            conversation=f"{agent.id}",
        )
        with self._router.clients.lease(session.endpoint, timeout_s=30.0) as client:
            client.headers.update(runtime.headers(session.id))
            try:
                request = routes.open(client, request, expires_at=expires_at)
                if self._cancelled.is_set():
                    routes.revoke()  # a cancel that came while the token was issued
                yield from self._turn_events(
                    lease, client, request, runtime, context, routes.spend, ceiling
                )
            finally:
                routes.close(self._bill_metered)

    def _stop(self) -> None:
        """Stop the turn from a watch (out of credit, at the ceiling)."""
        if self._turn is not None:
            self._turn.cancel()

    def _bill_metered(self, meter: EgressMeter | None) -> None:
        """Tokens the relay saw the endpoint report beyond what the runtime reported (a run
        stopped part way reports none) are billed too."""
        if meter is None:
            return
        model, reported_in, reported_out = self._reported or (self._spend_model, 0, 0)
        if meter.input_tokens > reported_in or meter.output_tokens > reported_out:
            self._record_usage(
                model=model or "unknown",
                input_tokens=max(meter.input_tokens, reported_in),
                output_tokens=max(meter.output_tokens, reported_out),
            )

    def _turn_events(
        self,
        lease: RunLease,
        client: httpx.Client,
        request: TurnRequest,
        runtime: AgentRuntime,
        context: EventContext,
        spend: RunSpend,
        ceiling: RunCeiling,
    ) -> Iterator[AgentEvent]:
        self._spend_model = spend.model
        try:
            self._turn = runtime.start_turn(client, request, context)
        except ComputeRouterError as exc:
            lease.outcome = RunState.FAILED
            yield context.make(RunFailed, error=str(exc), code=exc.code)
            return
        if self._cancelled.is_set() or ceiling.reached:
            # A stop that came after the check above but before the turn existed found
            # no turn to stop: stop it now, or it runs to its own end.
            self._turn.cancel()
        ended = False
        try:
            for raw in self._turn.events():
                event = raw
                if isinstance(event, Usage):
                    self._reported = (
                        event.model or "unknown",
                        event.input_tokens,
                        event.output_tokens,
                    )
                    self._record_usage(
                        model=event.model or "unknown",
                        input_tokens=event.input_tokens,
                        output_tokens=event.output_tokens,
                    )
                if isinstance(event, RunFailed | RunCancelled) and ceiling.reached:
                    event = context.make(RunFailed, error=ceiling.message(), code=CEILING)
                elif isinstance(event, RunFailed | RunCancelled) and spend.exhausted():
                    event = context.make(RunFailed, error=spend.credit_message(), code=CREDIT)
                elif isinstance(event, RunFailed):
                    event = replace(event, error=event.error + spend.failure_note(event.error))
                if isinstance(event, RunFailed):
                    lease.outcome = RunState.FAILED
                elif isinstance(event, RunCancelled):
                    lease.outcome = RunState.CANCELLED
                    if self._cancel_reason:
                        event = replace(event, reason=self._cancel_reason)
                ended = isinstance(event, RunCompleted | RunFailed | RunCancelled)
                yield event
                if isinstance(event, ApprovalRequested) and self._cancelled.is_set():
                    self._turn.respond_approval("deny")
        finally:
            if not ended:
                # The caller stopped listening (or broke): stop the turn inside the
                # runtime too, so nothing keeps running (and spending) unobserved.
                self._turn.cancel()

    def _record_usage(self, *, model: str, input_tokens: int, output_tokens: int) -> None:
        gate = self._router.compute.credit_gate
        if gate is None:
            return
        try:
            gate.record_usage(
                self.run_id, model=model, input_tokens=input_tokens, output_tokens=output_tokens
            )
        except ComputeRouterError as exc:
            # Billing trouble must not break the run; the repair pass settles what it can.
            log.warning("run %s: usage not recorded: %s", self.run_id, exc)


def _check_provider(settings: ModelSettings) -> None:
    """A pin names a registered provider (one not configured here is accepted on the row and
    refused at run time, so agents can be set up before their provider is)."""
    if settings.compute_provider is not None:
        registration(settings.compute_provider)


class AgentRouter:
    def __init__(
        self,
        *,
        compute: ComputeRouter,
        agents: AgentStore,
        run_tokens: RunTokens | None = None,
        mcp_host: McpHostUrl | None = None,
    ) -> None:
        """``mcp_host``: the URL of the router's MCP host, handed to every runtime that can
        reach it (sessions launched from now on call back there with each run's token)."""
        self.compute = compute
        self.agents = agents
        self.mcp_host = mcp_host
        self.clients = SessionClients()
        """Clients of the sessions' runtimes, reused turn after turn."""
        self.run_tokens = run_tokens or RunTokens(
            RunTokenStore(compute.store.engine), clock=compute.clock
        )
        if mcp_host is not None:
            for runtime in compute.runtimes.values():
                if isinstance(runtime, McpEgress) and runtime.mcp_audience == MCP_HOST:
                    runtime.attach_mcp_host(mcp_host)

    # -- agents -------------------------------------------------------------------------------

    def create_agent(
        self,
        *,
        user_id: str,
        address: AgentAddress,
        settings: ModelSettings,
        prompt: str,
    ) -> AgentRecord:
        SessionKey(user_id=user_id, sandbox_id=address.sandbox_id)
        validate_slug(address.slug)
        check_text(prompt, what="the prompt", limit=PROMPT_MAX_BYTES)
        if not prompt.strip():
            raise InputError("the prompt is empty; an agent needs a system prompt")
        _check_provider(settings)
        now = time.time()
        return self.agents.create(
            AgentRecord(
                id=new_id("agt"),
                user_id=user_id,
                sandbox_id=address.sandbox_id,
                slug=address.slug,
                settings=settings,
                prompt=prompt,
                created_at=now,
                updated_at=now,
            )
        )

    def update_agent(
        self,
        agent: AgentRecord,
        *,
        settings: ModelSettings | None = None,
        prompt: str | None = None,
    ) -> AgentRecord:
        if prompt is not None:
            check_text(prompt, what="the prompt", limit=PROMPT_MAX_BYTES)
        if prompt is not None and not prompt.strip():
            raise InputError("the prompt is empty; an agent needs a system prompt")
        if settings is not None:
            _check_provider(settings)
        return self.agents.update(
            replace(
                agent,
                settings=settings or agent.settings,
                prompt=agent.prompt if prompt is None else prompt,
                updated_at=time.time(),
            )
        )

    def resolve(self, user_id: str, address: AgentAddress) -> AgentRecord:
        return self.agents.get(user_id, address)

    def runtime_for(self, agent: AgentRecord) -> AgentRuntime:
        backend = agent.settings.backend
        if backend in VENDOR_BACKENDS:
            raise InputError(
                f"agent {agent.address} uses the vendor-managed backend {backend!r}; "
                "its vendor runs it, not ComputeRouter"
            )
        runtime = self.compute.runtime(backend)
        if not isinstance(runtime, AgentRuntime):
            raise InputError(f"runtime {backend!r} cannot run agent turns")
        return runtime

    def sandbox_runtime(self, user_id: str, sandbox_id: str) -> str:
        """The runtime a session of this sandbox must run for its agents: theirs (all of its
        self-hosted agents share one), or the default runtime when it has none."""
        needed = sorted(self.agents.backends(user_id, sandbox_id) - set(VENDOR_BACKENDS))
        if not needed:
            return self.compute.settings.default_runtime
        if len(needed) > 1:
            raise InputError(
                f"the agents of sandbox {sandbox_id} need different runtimes "
                f"({', '.join(needed)}); name one with --runtime"
            )
        return needed[0]

    # -- runs ---------------------------------------------------------------------------------

    def run(
        self,
        *,
        user_id: str,
        address: AgentAddress,
        text: str,
        run_id: str | None = None,
        region: str = "",
        destructive: bool = False,
    ) -> AgentRun:
        """Check everything that can be checked before touching compute, then hand back the
        run; its events start (and its session is ensured) when iterated. ``destructive``: the
        caller confirmed destructive operations (only an operator endpoint reads it)."""
        check_text(text, what="the input", limit=INPUT_MAX_BYTES)
        if not text.strip():
            raise InputError("the input is empty; give the agent something to do")
        agent = self.resolve(user_id, address)
        self.runtime_for(agent)
        placed = placement(self.compute, agent.settings, region=region).require()
        # A paused scope refuses at once.
        self.compute.gates.admit(user_id, [c.provider for c in placed])
        return AgentRun(
            self,
            agent,
            text,
            run_id or new_run_id(),
            region,
            destructive=destructive,
            placed=placed,
        )
