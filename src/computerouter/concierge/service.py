"""``Concierge``: each user's Concierge agent, made on first use, and its runs."""

from __future__ import annotations

from computerouter.agents.router import AgentRouter, AgentRun
from computerouter.concierge.endpoint import ApiUrl, OperatorEndpoint
from computerouter.concierge.prompt import CONCIERGE_ADDRESS, CONCIERGE_PROMPT
from computerouter.domain.agents import AgentRecord, ModelSettings
from computerouter.domain.run_tokens import OPERATOR
from computerouter.errors import Conflict, InputError
from computerouter.providers.base import EgressControl
from computerouter.providers.egress.remote_seam import RemoteEgress
from computerouter.runtimes.base import McpEgress
from computerouter.store.agents import AgentNotFound

__all__ = ["Concierge"]

BACKEND = "concierge"


class Concierge:
    """The Concierge of every user of ``agents``; its tools call the REST API at ``api_url()``
    (this process's own API, or the server's). :meth:`close` stops its endpoint."""

    def __init__(self, agents: AgentRouter, *, api_url: ApiUrl) -> None:
        self.agents = agents
        self.endpoint = OperatorEndpoint(agents.compute, agents.run_tokens, api_url)
        runtime = agents.compute.runtimes.get(BACKEND)
        if not isinstance(runtime, McpEgress) or runtime.mcp_audience != OPERATOR:
            raise InputError(f"this router has no {BACKEND} runtime to run the Concierge on")
        runtime.attach_mcp_host(self.endpoint.url)

    def agent(self, user_id: str) -> AgentRecord:
        """``user_id``'s Concierge agent, created the first time it is asked for."""
        try:
            return self.agents.resolve(user_id, CONCIERGE_ADDRESS)
        except AgentNotFound:
            pass
        provider = self.agents.compute.settings.concierge_provider.strip() or None
        found = self.agents.compute.providers.get(provider) if provider is not None else None
        if provider is not None and (
            not isinstance(found, EgressControl)
            or (isinstance(found, RemoteEgress) and not found.has_gateway())
        ):
            # Its tools are reached through a route of the router's (a host-side relay, or the
            # remote gateway): a provider that cannot give its sessions one would leave the
            # Concierge without them.
            raise InputError(
                f"concierge_provider = {provider!r}: the Concierge needs a configured provider "
                "whose sessions reach this control plane through its routes (local, or a remote "
                "provider with the remote gateway on)"
            )
        settings = ModelSettings(backend=BACKEND, compute_provider=provider)
        try:
            return self.agents.create_agent(
                user_id=user_id,
                address=CONCIERGE_ADDRESS,
                settings=settings,
                prompt=CONCIERGE_PROMPT,
            )
        except Conflict:  # made by a concurrent first request
            return self.agents.resolve(user_id, CONCIERGE_ADDRESS)

    def ask(self, user_id: str, text: str, *, yes: bool = False, region: str = "") -> AgentRun:
        """A run of ``user_id``'s Concierge on ``text``; ``yes`` confirms destructive tools
        for this run only. Its events start when iterated, like any run's."""
        self.agent(user_id)
        return self.agents.run(
            user_id=user_id, address=CONCIERGE_ADDRESS, text=text, region=region, destructive=yes
        )

    def close(self) -> None:
        self.endpoint.stop()
