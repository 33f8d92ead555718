"""The MCP host's tools: what a run may read about its own sandbox, and nothing else.

Each call is scoped by the run token it carries (verified by :class:`~.host.McpHost`): the
user, sandbox and agent of one run in flight. A tool that names a sandbox or session takes it
as an optional argument, so a caller can ask for another one, and is refused the same way
whether it exists or not (``not_found``): another tenant's resources are never confirmed.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

from computerouter.compute.router import ComputeRouter
from computerouter.domain.run_tokens import RunToken
from computerouter.domain.states import SessionState
from computerouter.errors import ComputeRouterError, NotFound
from computerouter.ledger import Ledger, format_credits
from computerouter.ledger.reports import usage_lines

__all__ = ["CallerOf", "build_server"]

CallerOf = Callable[[Context], RunToken]
"""The verified run token of the caller of one tool call (raises ToolError if there is none)."""

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
WORKSPACE = "/workspace"
MAX_FILES = 500

INSTRUCTIONS = (
    "The ComputeRouter that runs you: read your own sandbox's sessions, usage and credit "
    "balance, and list the files of its workspace. Every call acts for the run in flight."
)


def _own_sandbox(token: RunToken, sandbox_id: str | None) -> str:
    if sandbox_id is None or sandbox_id == token.sandbox_id:
        return token.sandbox_id
    raise ToolError(f"{NotFound.code}: no sandbox {sandbox_id!r}")


def _ledger(compute: ComputeRouter) -> Ledger:
    gate = compute.credit_gate
    if not isinstance(gate, Ledger):
        raise ToolError("billing_off: this router keeps no credit ledger")
    return gate


def _guard(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except ComputeRouterError as exc:
        raise ToolError(f"{exc.code}: {exc.message}") from exc


def _listing(out: str) -> list[dict[str, Any]]:
    files = []
    for line in out.splitlines()[:MAX_FILES]:
        kind, _, rest = line.partition(" ")
        size, _, path = rest.partition(" ")
        if path and size.isdigit():
            kind = "dir" if kind == "d" else "file"
            files.append({"path": path, "type": kind, "bytes": int(size)})
    return files


def build_server(compute: ComputeRouter, caller_of: CallerOf) -> MCPServer:
    # WARNING: the package would otherwise set the root logger to INFO (one line per call).
    server: MCPServer = MCPServer(
        name="computerouter-host", instructions=INSTRUCTIONS, log_level="WARNING"
    )

    @server.tool(annotations=READ)
    def whoami(ctx: Context) -> dict[str, Any]:
        """Who this run acts for: its user, sandbox, agent and run."""
        token = caller_of(ctx)
        return {
            "user_id": token.user_id,
            "sandbox_id": token.sandbox_id,
            "agent_id": token.agent_id,
            "run_id": token.run_id,
        }

    @server.tool(annotations=READ)
    def credit_balance(ctx: Context) -> dict[str, Any]:
        """The credit balance of this run's user: balance, held for runs in flight, available."""
        token = caller_of(ctx)

        def read() -> dict[str, Any]:
            account = _ledger(compute).account(token.user_id)
            return {
                "user_id": token.user_id,
                "balance": format_credits(account.balance),
                "reserved": format_credits(account.reserved),
                "available": format_credits(account.available),
            }

        return _guard(read)

    @server.tool(annotations=READ)
    def sandbox_usage(ctx: Context, sandbox_id: str | None = None) -> dict[str, Any]:
        """What this sandbox's agents have cost, per agent (credits, tokens, busy time)."""
        token = caller_of(ctx)
        sandbox = _own_sandbox(token, sandbox_id)

        def read() -> dict[str, Any]:
            lines = usage_lines(_ledger(compute), user_id=token.user_id, sandbox_id=sandbox)
            return {
                "sandbox_id": sandbox,
                "lines": [
                    {
                        "agent_id": line.agent_id,
                        "runs": line.runs,
                        "total": format_credits(line.total),
                        "input_tokens": line.input_tokens,
                        "output_tokens": line.output_tokens,
                        "busy_ms": line.busy_ms,
                    }
                    for line in lines
                ],
            }

        return _guard(read)

    @server.tool(annotations=READ)
    def sandbox_sessions(ctx: Context, sandbox_id: str | None = None) -> dict[str, Any]:
        """This sandbox's compute sessions: id, state, provider, region, when created."""
        token = caller_of(ctx)
        sandbox = _own_sandbox(token, sandbox_id)

        def read() -> dict[str, Any]:
            found = compute.store.sessions.list(user_id=token.user_id, sandbox_id=sandbox)
            return {
                "sandbox_id": sandbox,
                "sessions": [
                    {
                        "session_id": s.id,
                        "state": s.state.value,
                        "provider": s.provider,
                        "region": s.region,
                        "created_at": s.created_at,
                    }
                    for s in found
                ],
            }

        return _guard(read)

    @server.tool(annotations=READ)
    def workspace_files(
        ctx: Context, session_id: str | None = None, path: str = ""
    ) -> dict[str, Any]:
        """Files in this sandbox's workspace (``path`` below it, two levels deep): read-only."""
        token = caller_of(ctx)
        relative = path.strip("/")
        if ".." in relative.split("/") or "\0" in relative:
            raise ToolError("input_error: path must lie inside the workspace")

        def read() -> dict[str, Any]:
            live = [
                s
                for s in compute.store.sessions.list(
                    user_id=token.user_id,
                    sandbox_id=token.sandbox_id,
                    states=(SessionState.RUNNING,),
                )
                if session_id is None or s.id == session_id
            ]
            if not live or live[0].instance_id is None:
                which = "no running session" if session_id is None else "no such running session"
                raise NotFound(f"{which} in this sandbox")
            session = live[0]
            assert session.instance_id is not None
            root = f"{WORKSPACE}/{relative}".rstrip("/")
            script = (
                f"cd {shlex.quote(root)} && find . -mindepth 1 -maxdepth 2 "
                "-not -path './.hermes*' -printf '%y %s %P\\n' | sort -k3 | head -n "
                f"{MAX_FILES}"
            )
            result = compute.provider(session.provider).exec(
                session.instance_id, ["/bin/sh", "-c", script], timeout_s=10.0
            )
            if result.exit_code != 0:
                raise NotFound(f"no directory {root!r} in the workspace")
            return {
                "session_id": session.id,
                "path": root,
                "files": _listing(result.stdout),
            }

        return _guard(read)

    return server
