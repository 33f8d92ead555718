"""The runtime seam: what runs inside a compute session.

A runtime says how to start itself in a fresh session (:class:`LaunchSpec`, carried out by any
provider) and how to tell that it is healthy. An :class:`AgentRuntime` can also run a turn of
an agent and translate its own events into neutral AgentEvents, at this boundary and nowhere
else. ``hermes`` is the production runtime; ``echo`` is a test runtime, a tiny
OpenAI-compatible server that repeats its input, used by tests, benchmarks and the lifecycle
demo (its agent turns need no model, so they measure the router's own cost).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

import httpx

from computerouter.domain.egress import EgressTurn
from computerouter.domain.events import AgentEvent
from computerouter.domain.gateway import AllowRule
from computerouter.domain.values import LaunchSpec

__all__ = [
    "AgentRuntime",
    "EventContext",
    "GatewayEgress",
    "McpEgress",
    "ModelEgress",
    "Runtime",
    "TurnHandle",
    "TurnPreparation",
    "TurnRequest",
    "WarmUp",
]

E = TypeVar("E", bound=AgentEvent)


@runtime_checkable
class Runtime(Protocol):
    @property
    def name(self) -> str: ...

    def launch_spec(self, *, session_id: str) -> LaunchSpec: ...

    def check(self, client: httpx.Client) -> None:
        """Raise :class:`~computerouter.errors.RuntimeFailure` unless the runtime answers."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class TurnRequest:
    run_id: str
    input: str
    instructions: str = ""
    """The agent's system prompt."""
    conversation: str = ""
    """Stable id of the agent's conversation in this session: turns with the same id see
    each other."""
    history: tuple[tuple[str, str], ...] | None = None
    """The conversation so far as ``(role, text)``, oldest first, when it was read ahead of
    the turn (:class:`TurnPreparation`); ``None``: the runtime reads it itself if it must."""


@dataclass(kw_only=True)
class EventContext:
    """Stamps attribution, time and sequence on every event of one run."""

    run_id: str
    agent_id: str
    sandbox_id: str
    user_id: str
    _seq: int = field(default=0, repr=False)

    def make(self, cls: type[E], **fields: Any) -> E:
        self._seq += 1
        return cls(
            run_id=self.run_id,
            agent_id=self.agent_id,
            sandbox_id=self.sandbox_id,
            user_id=self.user_id,
            at=time.time(),
            seq=self._seq,
            **fields,
        )


class TurnHandle(Protocol):
    """One turn in flight inside a session."""

    def events(self) -> Iterator[AgentEvent]:
        """Neutral events until the turn completes, fails or is cancelled (then it ends)."""
        ...

    def respond_approval(self, choice: str) -> None:
        """Answer a pending ``approval.requested`` (``once``, ``session``, ``always``, ``deny``)."""
        ...

    def cancel(self) -> None:
        """Stop the turn inside the runtime."""
        ...


@runtime_checkable
class AgentRuntime(Runtime, Protocol):
    def headers(self, session_id: str) -> dict[str, str]:
        """Headers a client must send to the runtime in ``session_id`` (its API key)."""
        ...

    def start_turn(
        self, client: httpx.Client, request: TurnRequest, context: EventContext
    ) -> TurnHandle: ...


@runtime_checkable
class TurnPreparation(Protocol):
    """A runtime with reading to do before a turn (its conversation so far) that does not
    depend on the turn's routes: the router runs it while it configures them."""

    def prepare_turn(self, client: httpx.Client, request: TurnRequest) -> TurnRequest:
        """``request`` with what was read ahead (raises what :meth:`start_turn` would)."""
        ...


@runtime_checkable
class ModelEgress(Protocol):
    """A runtime whose model calls leave the session through an egress route: each turn, the
    route is told the endpoint to use now (and the run's budget is metered on it)."""

    def model_egress(self) -> tuple[str, EgressTurn]:
        """The route's name, and the current endpoint, key and model name."""
        ...


@runtime_checkable
class GatewayEgress(Protocol):
    """A runtime whose session's general way out is an egress gateway route: each turn, the
    gateway is told the allowlist and who is calling (:meth:`gateway_egress`)."""

    def gateway_egress(
        self, labels: tuple[tuple[str, str], ...], extra: tuple[AllowRule, ...] = ()
    ) -> tuple[str, EgressTurn]:
        """The route's name, and its turn carrying ``labels`` (session, sandbox, agent, run)
        and the allowlist for the run: the operator's and ``extra`` (the agent's own)."""
        ...


@runtime_checkable
class McpEgress(Protocol):
    """A runtime whose session reaches the router's MCP host through an egress route that
    stamps each run's own bearer on the way out (the session holds no token).

    ``mcp_audience`` says which endpoint that is, and so what a run's token may do there: the
    router's MCP host (``mcp-host``: the run reads its own sandbox) or the operator's
    operations (``operator``: a Concierge run acts as its user)."""

    mcp_audience: str

    def attach_mcp_host(self, url: Callable[[], str]) -> None:
        """Sessions launched from now on reach the MCP host at ``url()`` (called at launch;
        each turn names the URL again, so a session outlives the process that launched it)."""
        ...

    def has_mcp_host(self) -> bool: ...

    def mcp_egress(self, token: str, *, run_id: str) -> tuple[str, EgressTurn]:
        """The route's name, and its turn: the MCP host's URL, and ``token`` as the bearer of
        the run ``run_id`` while it is in flight."""
        ...


@runtime_checkable
class WarmUp(Protocol):
    """A runtime with a lazy first-use set-up (imports, databases) that a warm pool does ahead
    of time: :meth:`warm_up` makes the runtime do it, through ``client`` (with the session's
    headers), and leaves nothing a session would see (no conversation, no file of its own)."""

    def warm_up(self, client: httpx.Client) -> None: ...


@runtime_checkable
class Standby(Protocol):
    """A runtime that can be started ahead of its workspace, for restores (see
    :mod:`computerouter.compute.pool`): :meth:`standby_launch_spec` starts it as far as it goes
    without touching the workspace (its imports) and answers ``GET /standby`` there; a
    ``POST /go`` carrying :meth:`standby_start` for the restored session, once its workspace is
    in place, makes it the session's runtime, answering the usual health path."""

    def standby_launch_spec(self) -> LaunchSpec: ...

    def standby_start(self, session_id: str) -> dict[str, str]: ...

    def standby_egress(self) -> tuple[tuple[str, EgressTurn], ...]:
        """Egress routes to point before go (what its launch could not know: they depend on
        the control plane that restores it)."""
        ...
