"""``computerouter route explain``: where an agent's next new session would go, and why."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Annotated

import typer
from rich.table import Table

from computerouter.cli.agents import (
    Address,
    JsonFlag,
    SandboxOpt,
    UserOpt,
    agent_router,
    user_option,
)
from computerouter.cli.context import get_context
from computerouter.cli.render import console, print_json
from computerouter.cli.terminal import markup_safe
from computerouter.compute.offers import placement
from computerouter.domain.agents import AgentAddress
from computerouter.domain.placement import check_policy
from computerouter.domain.regions import known_region
from computerouter.ledger.money import MICRO
from computerouter.wire.placement import placement_dict

__all__ = ["app", "price_text"]

app = typer.Typer(help="Routing: how placement picks a provider.", no_args_is_help=True)


def price_text(micro_per_hour: Decimal | None) -> str:
    """Credits per hour, every significant digit up to a micro-credit."""
    if micro_per_hour is None:
        return "-"
    credits = (micro_per_hour / MICRO).quantize(Decimal("0.000001")).normalize()
    return f"{credits:f}"


@app.command("explain")
def explain(
    ctx: typer.Context,
    address: Address,
    sandbox: SandboxOpt = None,
    user: UserOpt = None,
    region: Annotated[
        str | None,
        typer.Option("--region", help="The caller's region [default: the region setting]."),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option("--policy", help="What if: this policy instead of the agent's pin or policy."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The placement decision for ADDRESS's next new session: each provider kept (in fail-over
    order) or dropped, with its region, price per hour, warm start, health and why."""
    acting = user_option(ctx, user)
    if region is not None:
        known_region(region)
    if policy is not None:
        check_policy(policy)
    where = AgentAddress.parse(address, default_sandbox=sandbox)
    agent = agent_router(ctx).resolve(acting, where)
    settings = agent.settings
    if policy is not None:
        settings = replace(settings, compute_provider=None, compute_policy=policy)
    router = get_context(ctx).router
    result = placement(router, settings, region=region, unoffered=True)
    if as_json:
        print_json({"agent": str(agent.address), **placement_dict(result)})
        return
    console.print(
        f"[bold]{markup_safe(str(agent.address))}[/]: policy {result.policy}, "
        f"caller region {result.caller_region or 'unknown'}, "
        f"pinned region {result.pinned_region or 'none'}",
        highlight=False,
    )
    table = Table(show_edge=False)
    for column in ("provider", "region", "credits/h", "warm ms", "health", "decision", "reason"):
        table.add_column(column)
    for i, c in enumerate(result.candidates):
        table.add_row(
            c.provider,
            c.region or "-",
            price_text(c.price_per_hour),
            f"{c.warm_start_ms:g}",
            c.health,
            f"[green]kept #{i + 1}[/]",
            markup_safe(c.reason),
        )
    for d in result.dropped:
        table.add_row(
            d.provider,
            d.region or "-",
            price_text(d.price_per_hour),
            f"{d.warm_start_ms:g}",
            d.health,
            "[red]dropped[/]",
            markup_safe(d.reason),
        )
    console.print(table)
    if result.refusal:
        console.print(f"[bold red]refused:[/] {markup_safe(result.refusal)}", highlight=False)
