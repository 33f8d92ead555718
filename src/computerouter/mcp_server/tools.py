"""The operator's operations as MCP tools, each one call of the Python SDK.

Every tool runs as the caller's API key, against the same REST API any client uses, so it is
scoped exactly as that API scopes it: another tenant's agent is not found, an admin operation
needs an admin key. Tools that delete, destroy or pause say so (``destructiveHint``), so an MCP
client asks before it calls them; tools that only read say that (``readOnlyHint``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel

from computerouter.client import Client
from computerouter.errors import ComputeRouterError

__all__ = ["ClientFor", "Confirm", "build_server"]

ClientFor = Callable[[Context], Client]
"""The SDK client of the caller of one tool call (its API key)."""

Confirm = Callable[[Context, str], None]
"""Asked before a destructive tool acts, with what it would do; raises ToolError to refuse
(the Concierge refuses unless its caller said ``--yes``). A plain MCP client asks its user
itself, from the tool's ``destructiveHint``."""

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
CHANGE = ToolAnnotations(read_only_hint=False, destructive_hint=False)
DESTROY = ToolAnnotations(read_only_hint=False, destructive_hint=True)

INSTRUCTIONS = (
    "Operate a ComputeRouter: agents (where each runs: a pinned compute provider or a policy), "
    "their compute sessions, the kill switch, usage and credits. Every call acts as the API "
    "key this server was given; destructive tools (delete, destroy, pause) need confirmation."
)


def _out(value: BaseModel | list[Any] | dict[str, Any] | None) -> dict[str, Any]:
    """One JSON object per answer (a list comes as ``{"items": [...]}``)."""
    if value is None:
        return {"ok": True}
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {"items": [v.model_dump(mode="json") for v in value]}
    return value.model_dump(mode="json")


def _call(fn: Callable[[], Any]) -> dict[str, Any]:
    """Run one SDK call; the router's errors become tool errors with their stable code."""
    try:
        return _out(fn())
    except ComputeRouterError as exc:
        raise ToolError(f"{exc.code}: {exc.message}") from exc


def _settings(
    backend: str,
    compute_provider: str | None,
    compute_policy: str | None,
    compute_region: str | None,
    max_run_s: float | None = None,
) -> dict[str, Any]:
    return {
        "backend": backend,
        "compute_provider": compute_provider,
        "compute_policy": compute_policy,
        "compute_region": compute_region,
        "max_run_s": max_run_s,
    }


def _no_confirm(_ctx: Context, _what: str) -> None:
    return None


def build_server(client_for: ClientFor, confirm: Confirm = _no_confirm) -> MCPServer:
    # WARNING: the package would otherwise set the root logger to INFO (one line per call).
    server: MCPServer = MCPServer(
        name="computerouter", instructions=INSTRUCTIONS, log_level="WARNING"
    )

    # -- agents ----------------------------------------------------------------------------

    @server.tool(annotations=CHANGE)
    def agents_create(
        ctx: Context,
        sandbox_id: str,
        slug: str,
        prompt: str,
        compute_provider: str | None = None,
        compute_policy: Literal["latency-aware", "cost-aware"] | None = None,
        compute_region: str | None = None,
        backend: str = "hermes",
        max_run_s: float | None = None,
    ) -> dict[str, Any]:
        """Create an agent SANDBOX/SLUG with its system prompt; where it runs is either a pinned
        compute provider or a compute policy (default latency-aware), optionally in a region;
        ``max_run_s`` caps one run's running time (default: the sandbox's or the platform's)."""
        settings = _settings(backend, compute_provider, compute_policy, compute_region, max_run_s)
        return _call(
            lambda: client_for(ctx).agents.create(
                sandbox_id, slug=slug, prompt=prompt, model_settings=settings
            )
        )

    @server.tool(annotations=READ)
    def agents_list(ctx: Context, sandbox_id: str | None = None) -> dict[str, Any]:
        """The caller's agents (of one sandbox, if given)."""
        return _call(lambda: client_for(ctx).agents.list(sandbox_id))

    @server.tool(annotations=READ)
    def agents_show(ctx: Context, sandbox_id: str, slug: str) -> dict[str, Any]:
        """One agent: its model settings and prompt."""
        return _call(lambda: client_for(ctx).agents.get(sandbox_id, slug))

    @server.tool(annotations=CHANGE)
    def agents_update(
        ctx: Context,
        sandbox_id: str,
        slug: str,
        prompt: str | None = None,
        compute_provider: str | None = None,
        compute_policy: Literal["latency-aware", "cost-aware"] | None = None,
        compute_region: str | None = None,
        backend: str = "hermes",
        max_run_s: float | None = None,
    ) -> dict[str, Any]:
        """Change an agent's prompt, where it runs or its run ceiling (the model settings
        given replace the old ones; give none to keep them)."""
        given = (compute_provider, compute_policy, compute_region, max_run_s)
        settings = _settings(backend, *given) if any(v is not None for v in given) else None
        return _call(
            lambda: client_for(ctx).agents.update(
                sandbox_id, slug, prompt=prompt, model_settings=settings
            )
        )

    @server.tool(annotations=DESTROY)
    def agents_delete(ctx: Context, sandbox_id: str, slug: str) -> dict[str, Any]:
        """Delete an agent (its sandbox's sessions and their memory stay)."""
        confirm(ctx, f"delete agent {sandbox_id}/{slug}")
        return _call(lambda: client_for(ctx).agents.delete(sandbox_id, slug))

    @server.tool(annotations=READ)
    def route_explain(
        ctx: Context,
        sandbox_id: str,
        slug: str,
        region: str | None = None,
        policy: Literal["latency-aware", "cost-aware"] | None = None,
    ) -> dict[str, Any]:
        """Where the agent's next new session would go and why: each provider kept or dropped,
        with its region, price per hour, warm start and health (`policy`: what if)."""
        return _call(
            lambda: client_for(ctx).agents.route(sandbox_id, slug, region=region, policy=policy)
        )

    # -- compute sessions ------------------------------------------------------------------

    @server.tool(annotations=READ)
    def sessions_list(
        ctx: Context,
        sandbox_id: str | None = None,
        agent_slug: str | None = None,
        include_ended: bool = False,
    ) -> dict[str, Any]:
        """The caller's compute sessions: state, provider, region; filter by sandbox and the
        slug of an agent in it."""
        return _call(
            lambda: client_for(ctx).compute.sessions.list(
                sandbox_id, agent_slug=agent_slug, include_ended=include_ended
            )
        )

    @server.tool(annotations=READ)
    def sessions_show(ctx: Context, session_id: str) -> dict[str, Any]:
        """One compute session."""
        return _call(lambda: client_for(ctx).compute.sessions.get(session_id))

    @server.tool(annotations=CHANGE)
    def sessions_suspend(ctx: Context, session_id: str) -> dict[str, Any]:
        """Freeze a running session (it resumes in milliseconds on its next run)."""
        return _call(lambda: client_for(ctx).compute.sessions.suspend(session_id))

    @server.tool(annotations=CHANGE)
    def sessions_resume(ctx: Context, session_id: str) -> dict[str, Any]:
        """Thaw a suspended session, or restore an archived one."""
        return _call(lambda: client_for(ctx).compute.sessions.resume(session_id))

    @server.tool(annotations=CHANGE)
    def sessions_archive(ctx: Context, session_id: str) -> dict[str, Any]:
        """Stop a session and keep its workspace (the agent's memory) as an archive."""
        return _call(lambda: client_for(ctx).compute.sessions.archive(session_id))

    @server.tool(annotations=DESTROY)
    def sessions_destroy(ctx: Context, session_id: str) -> dict[str, Any]:
        """Destroy a session and its workspace: the agent's memory in it is gone."""
        confirm(ctx, f"destroy session {session_id} and its workspace")
        return _call(lambda: client_for(ctx).compute.sessions.destroy(session_id))

    # -- kill switch (admin keys) ----------------------------------------------------------

    @server.tool(annotations=READ)
    def pauses_list(ctx: Context) -> dict[str, Any]:
        """The pauses in force (admin keys only)."""
        return _call(client_for(ctx).admin.pauses)

    @server.tool(annotations=DESTROY)
    def pause(
        ctx: Context, scope: str, reason: str, mode: Literal["drain", "now"] = "drain"
    ) -> dict[str, Any]:
        """Stop new runs in a scope: `global`, `user:U` or `provider:P` (admin keys only).
        `drain` lets runs in flight finish; `now` cancels them."""
        confirm(ctx, f"pause {scope} ({mode})")
        return _call(lambda: client_for(ctx).admin.pause(scope, reason=reason, mode=mode))

    @server.tool(annotations=CHANGE)
    def unpause(ctx: Context, scope: str, reason: str) -> dict[str, Any]:
        """Lift the pause of a scope (admin keys only); returns the pauses still in force."""
        return _call(lambda: client_for(ctx).admin.unpause(scope, reason=reason))

    # -- usage, credits, providers ---------------------------------------------------------

    @server.tool(annotations=READ)
    def usage(
        ctx: Context, sandbox_id: str | None = None, agent_id: str | None = None
    ) -> dict[str, Any]:
        """Spend per sandbox and agent: token, compute and idle cost."""
        return _call(lambda: client_for(ctx).usage.get(sandbox_id=sandbox_id, agent_id=agent_id))

    @server.tool(annotations=READ)
    def usage_run(ctx: Context, run_id: str) -> dict[str, Any]:
        """One run's two ledger entries: its token cost and its compute cost."""
        return _call(lambda: client_for(ctx).usage.run(run_id))

    @server.tool(annotations=READ)
    def credits(ctx: Context) -> dict[str, Any]:
        """The caller's credit balance, holds and what is available."""
        return _call(client_for(ctx).credits.get)

    @server.tool(annotations=READ)
    def providers_list(ctx: Context) -> dict[str, Any]:
        """Compute providers this router offers, with their health and regions."""
        return _call(client_for(ctx).providers.list)

    return server
