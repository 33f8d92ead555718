"""What the commands act on: the embedded routers, or an API server through the SDK.

Against a server (``--server``) each supported command makes the same SDK calls any client
makes, turns the answers back into the core's records (``AgentOut.to_record`` ...) and renders
them with the same code as embedded, so the output is the same. Scoping is the server's: an API
key sees its own user's resources (an admin key may act for ``--user``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import typer

from computerouter.agents.factory import agent_router_for
from computerouter.agents.router import AgentRouter
from computerouter.cli.context import get_context
from computerouter.client import Client
from computerouter.domain.agents import AgentAddress, AgentRecord, ModelSettings
from computerouter.domain.events import AgentEvent
from computerouter.wire.models import ModelSettingsIn

__all__ = ["AgentOps", "RemoteAgents", "RemoteRun", "RunHandle", "agents_for", "client_for"]


class RunHandle(Protocol):
    """A run being streamed: an embedded ``AgentRun`` or one on a server."""

    @property
    def run_id(self) -> str: ...

    def events(self) -> Iterator[AgentEvent]: ...

    def respond_approval(self, choice: str) -> None: ...

    def cancel(self, reason: str = "") -> None: ...


class AgentOps(Protocol):
    def create_agent(
        self, *, user_id: str, address: AgentAddress, settings: ModelSettings, prompt: str
    ) -> AgentRecord: ...

    def list_agents(self, user_id: str, sandbox_id: str | None) -> list[AgentRecord]: ...

    def resolve(self, user_id: str, address: AgentAddress) -> AgentRecord: ...

    def update_agent(
        self,
        agent: AgentRecord,
        *,
        settings: ModelSettings | None = None,
        prompt: str | None = None,
    ) -> AgentRecord: ...

    def delete_agent(self, user_id: str, address: AgentAddress) -> None: ...


class EmbeddedAgents:
    def __init__(self, router: AgentRouter) -> None:
        self.router = router

    def create_agent(
        self, *, user_id: str, address: AgentAddress, settings: ModelSettings, prompt: str
    ) -> AgentRecord:
        return self.router.create_agent(
            user_id=user_id, address=address, settings=settings, prompt=prompt
        )

    def list_agents(self, user_id: str, sandbox_id: str | None) -> list[AgentRecord]:
        return list(self.router.agents.list(user_id, sandbox_id=sandbox_id))

    def resolve(self, user_id: str, address: AgentAddress) -> AgentRecord:
        return self.router.resolve(user_id, address)

    def update_agent(
        self,
        agent: AgentRecord,
        *,
        settings: ModelSettings | None = None,
        prompt: str | None = None,
    ) -> AgentRecord:
        return self.router.update_agent(agent, settings=settings, prompt=prompt)

    def delete_agent(self, user_id: str, address: AgentAddress) -> None:
        self.router.agents.delete(user_id, address)


class RemoteAgents:
    def __init__(self, client: Client) -> None:
        self.client = client

    def create_agent(
        self, *, user_id: str, address: AgentAddress, settings: ModelSettings, prompt: str
    ) -> AgentRecord:
        made = self.client.agents.create(
            address.sandbox_id,
            slug=address.slug,
            prompt=prompt,
            model_settings=ModelSettingsIn.from_domain(settings),
        )
        return made.to_record()

    def list_agents(self, user_id: str, sandbox_id: str | None) -> list[AgentRecord]:
        return [a.to_record() for a in self.client.agents.list(sandbox_id)]

    def resolve(self, user_id: str, address: AgentAddress) -> AgentRecord:
        return self.client.agents.get(address.sandbox_id, address.slug).to_record()

    def update_agent(
        self,
        agent: AgentRecord,
        *,
        settings: ModelSettings | None = None,
        prompt: str | None = None,
    ) -> AgentRecord:
        updated = self.client.agents.update(
            agent.sandbox_id,
            agent.slug,
            prompt=prompt,
            model_settings=None if settings is None else ModelSettingsIn.from_domain(settings),
        )
        return updated.to_record()

    def delete_agent(self, user_id: str, address: AgentAddress) -> None:
        self.client.agents.delete(address.sandbox_id, address.slug)


class RemoteRun:
    """A run on a server: its events over SSE (resumed if the connection drops), its approval
    and its cancel through the API."""

    def __init__(self, client: Client, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def events(self) -> Iterator[AgentEvent]:
        return self.client.runs.events(self.run_id)

    def respond_approval(self, choice: str) -> None:
        if choice == "deny":
            self.client.runs.deny(self.run_id)
        else:
            self.client.runs.approve(self.run_id, choice)

    def cancel(self, reason: str = "") -> None:
        self.client.runs.cancel(self.run_id)


def client_for(ctx: typer.Context, user: str | None) -> Client | None:
    """The server's SDK client when the command runs against one (acting for ``--user`` when
    given: an admin key may), else None."""
    return get_context(ctx).client(act_for=user)


def agents_for(ctx: typer.Context, user: str | None) -> AgentOps:
    client = client_for(ctx, user)
    if client is not None:
        return RemoteAgents(client)
    return EmbeddedAgents(agent_router_for(get_context(ctx).router))
