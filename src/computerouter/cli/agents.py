"""``computerouter agent ...``: the agent rows (backend, compute pin or policy, region, prompt)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from computerouter.agents.factory import agent_router_for
from computerouter.agents.router import AgentRouter
from computerouter.cli.context import get_context
from computerouter.cli.remote import agents_for
from computerouter.cli.render import console, format_duration, parse_ceiling, print_json
from computerouter.cli.terminal import for_terminal, markup_safe
from computerouter.domain.agents import AgentAddress, AgentRecord, ModelSettings
from computerouter.domain.limits import PROMPT_MAX_BYTES
from computerouter.errors import InputError
from computerouter.inputs import read_bounded_text

__all__ = ["agent_app", "user_option"]

agent_app = typer.Typer(
    help="Agents: runtime backend, compute settings, prompt.", no_args_is_help=True
)

Address = Annotated[str, typer.Argument(help="SLUG, or SANDBOX/SLUG.", show_default=False)]
SandboxOpt = Annotated[str | None, typer.Option("--sandbox", help="Sandbox of the agent.")]
UserOpt = Annotated[
    str | None, typer.Option("--user", help="Acting user [env: COMPUTEROUTER_USER; default local].")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ProviderOpt = Annotated[
    str | None,
    typer.Option("--compute-provider", help="Pin a provider: local, daytona, fly_sprites."),
]
PolicyOpt = Annotated[
    str | None,
    typer.Option("--compute-policy", help="Or let routing pick: latency-aware, cost-aware."),
]
RegionOpt = Annotated[str | None, typer.Option("--compute-region", help="Pin a region.")]
MaxRunOpt = Annotated[
    str | None,
    typer.Option(
        "--max-run",
        help="Ceiling on one run's running time, e.g. 90, 90s, 15m ('default': the sandbox's).",
    ),
]
EgressAllowOpt = Annotated[
    str | None,
    typer.Option(
        "--egress-allow",
        help="HOST:PORT rules its runs may reach through the egress gateway, comma separated "
        "('' for none beyond the operator's).",
    ),
]
OnProviderDownOpt = Annotated[
    str | None,
    typer.Option(
        "--on-provider-down",
        help="When its archived session's provider is down: wait (default) or move to another "
        "of its providers, memory included.",
    ),
]


BACKEND_HELP = "Runtime backend: hermes (echo: the test runtime, which needs no model)."


def parse_max_run(text: str) -> float | None:
    """``--max-run``: a duration more than zero, or ``default`` (``None``: no own ceiling)."""
    if text.strip() == "default":
        return None
    return parse_ceiling(text, what="--max-run")


def user_option(ctx: typer.Context, user: str | None) -> str:
    from computerouter.domain.values import SessionKey

    chosen = user if user is not None else get_context(ctx).settings.user
    SessionKey(user_id=chosen, sandbox_id="x")  # validates the id
    return chosen


def agent_router(ctx: typer.Context) -> AgentRouter:
    return agent_router_for(get_context(ctx).router)


def _read_prompt(path: Path) -> str:
    """The prompt file's text, bounded (see :mod:`computerouter.inputs`); ``-`` is stdin."""
    text = read_bounded_text(path, what="prompt file", limit=PROMPT_MAX_BYTES)
    if not text.strip():
        raise InputError(f"prompt file {str(path)!r} is empty")
    return text


def agent_dict(agent: AgentRecord) -> dict[str, object]:
    return {
        "id": agent.id,
        "address": str(agent.address),
        "user_id": agent.user_id,
        "sandbox_id": agent.sandbox_id,
        "slug": agent.slug,
        "model_settings": {
            "backend": agent.settings.backend,
            "compute_provider": agent.settings.compute_provider,
            "compute_policy": agent.settings.compute_policy,
            "compute_region": agent.settings.compute_region,
            "max_run_s": agent.settings.max_run_s,
            "egress_allow": agent.settings.egress_allow,
            "on_provider_down": agent.settings.on_provider_down,
        },
        "prompt": agent.prompt,
        "created_at": agent.created_at,
        "updated_at": agent.updated_at,
    }


def _compute(agent: AgentRecord) -> str:
    s = agent.settings
    where = (
        f"pinned: {s.compute_provider}" if s.compute_provider else f"policy: {s.effective_policy}"
    )
    where += f", region {s.compute_region}" if s.compute_region else ""
    where += f", max run {format_duration(s.max_run_s)}" if s.max_run_s else ""
    where += f", egress {s.egress_allow}" if s.egress_allow else ""
    return where + (", moves when its provider is down" if s.on_provider_down == "move" else "")


def _print(agent: AgentRecord, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(agent_dict(agent))
        return
    console.print(
        f"{verb} agent [bold]{agent.address}[/] ({agent.id}): backend {agent.settings.backend}, "
        f"{_compute(agent)}, prompt {len(agent.prompt)} chars"
    )


@agent_app.command("create")
def create(
    ctx: typer.Context,
    address: Address,
    prompt_file: Annotated[
        Path,
        typer.Option("--prompt-file", help="System prompt: a UTF-8 file of at most 256 KiB, or -."),
    ],
    sandbox: SandboxOpt = None,
    backend: Annotated[str, typer.Option(help=BACKEND_HELP)] = "hermes",
    compute_provider: ProviderOpt = None,
    compute_policy: PolicyOpt = None,
    compute_region: RegionOpt = None,
    max_run: MaxRunOpt = None,
    egress_allow: EgressAllowOpt = None,
    on_provider_down: OnProviderDownOpt = None,
    user: UserOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an agent: its backend, where it computes, and its system prompt."""
    acting = user_option(ctx, user)
    where = AgentAddress.parse(address, default_sandbox=sandbox)
    settings = ModelSettings(
        backend=backend,
        compute_provider=compute_provider,
        compute_policy=compute_policy,
        compute_region=compute_region,
        max_run_s=None if max_run is None else parse_max_run(max_run),
        egress_allow=egress_allow or None,
        on_provider_down=on_provider_down or "wait",
    )
    prompt = _read_prompt(prompt_file)
    agent = agents_for(ctx, user).create_agent(
        user_id=acting, address=where, settings=settings, prompt=prompt
    )
    _print(agent, as_json, "created")


@agent_app.command("list")
def list_agents(
    ctx: typer.Context, sandbox: SandboxOpt = None, user: UserOpt = None, as_json: JsonFlag = False
) -> None:
    """List the user's agents."""
    acting = user_option(ctx, user)
    agents = agents_for(ctx, user).list_agents(acting, sandbox)
    if as_json:
        print_json([agent_dict(a) for a in agents])
        return
    if not agents:
        console.print("[dim]no agents[/]")
        return
    table = Table(title=f"agents of {agents[0].user_id}", title_justify="left")
    for column in ("address", "id", "backend", "compute", "prompt"):
        table.add_column(column, overflow="fold" if column in ("address", "id") else "ellipsis")
    for a in agents:
        first_line = a.prompt.strip().splitlines()[0] if a.prompt.strip() else ""
        table.add_row(
            str(a.address), a.id, a.settings.backend, _compute(a), markup_safe(first_line[:50])
        )
    console.print(table)


@agent_app.command("show")
def show(
    ctx: typer.Context,
    address: Address,
    sandbox: SandboxOpt = None,
    user: UserOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Show one agent, prompt included."""
    acting = user_option(ctx, user)
    agent = agents_for(ctx, user).resolve(
        acting, AgentAddress.parse(address, default_sandbox=sandbox)
    )
    if as_json:
        print_json(agent_dict(agent))
        return
    _print(agent, False, "")
    console.print(for_terminal(agent.prompt), highlight=False, markup=False)


@agent_app.command("update")
def update(
    ctx: typer.Context,
    address: Address,
    sandbox: SandboxOpt = None,
    prompt_file: Annotated[
        Path | None,
        typer.Option("--prompt-file", help="New system prompt (UTF-8, at most 256 KiB, or -)."),
    ] = None,
    backend: Annotated[str | None, typer.Option(help=BACKEND_HELP)] = None,
    compute_provider: ProviderOpt = None,
    compute_policy: PolicyOpt = None,
    compute_region: RegionOpt = None,
    max_run: MaxRunOpt = None,
    egress_allow: EgressAllowOpt = None,
    on_provider_down: OnProviderDownOpt = None,
    user: UserOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Change an agent's prompt or settings (a new pin replaces a policy, and back)."""
    acting = user_option(ctx, user)
    where = AgentAddress.parse(address, default_sandbox=sandbox)
    max_run_s = None if max_run is None else parse_max_run(max_run)
    prompt = _read_prompt(prompt_file) if prompt_file is not None else None
    router = agents_for(ctx, user)
    agent = router.resolve(acting, where)
    current = agent.settings
    settings = ModelSettings(
        backend=backend or current.backend,
        compute_provider=(
            compute_provider
            if compute_provider is not None
            else (None if compute_policy is not None else current.compute_provider)
        ),
        compute_policy=(
            compute_policy
            if compute_policy is not None
            else (None if compute_provider is not None else current.compute_policy)
        ),
        compute_region=compute_region if compute_region is not None else current.compute_region,
        max_run_s=max_run_s if max_run is not None else current.max_run_s,
        egress_allow=(egress_allow or None) if egress_allow is not None else current.egress_allow,
        on_provider_down=on_provider_down or current.on_provider_down,
    )
    _print(router.update_agent(agent, settings=settings, prompt=prompt), as_json, "updated")


@agent_app.command("delete")
def delete(
    ctx: typer.Context, address: Address, sandbox: SandboxOpt = None, user: UserOpt = None
) -> None:
    """Delete an agent (its sandbox's session is left as it is)."""
    acting = user_option(ctx, user)
    where = AgentAddress.parse(address, default_sandbox=sandbox)
    agents_for(ctx, user).delete_agent(acting, where)
    console.print(f"deleted agent [bold]{where}[/]")
