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
from computerouter.cli.remote import client_for
from computerouter.cli.render import console, print_json
from computerouter.cli.terminal import markup_safe
from computerouter.compute.offers import placement
from computerouter.domain.agents import AgentAddress
from computerouter.domain.placement import check_policy
from computerouter.domain.regions import known_region
from computerouter.ledger.money import MICRO
from computerouter.wire.placement import PlacementOut, placement_out

__all__ = ["app", "price_text", "print_decision"]

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
    if region is not None:
        known_region(region)
    if policy is not None:
        check_policy(policy)
    client = client_for(ctx, user)
    if client is not None:
        where = AgentAddress.parse(address, default_sandbox=sandbox)
        decision = client.agents.route(where.sandbox_id, where.slug, region=region, policy=policy)
    else:
        decision = _embedded(ctx, address, sandbox, user_option(ctx, user), region, policy)
    if as_json:
        print_json(decision.model_dump())
        return
    print_decision(decision)


def _embedded(
    ctx: typer.Context,
    address: str,
    sandbox: str | None,
    user: str,
    region: str | None,
    policy: str | None,
) -> PlacementOut:
    where = AgentAddress.parse(address, default_sandbox=sandbox)
    agent = agent_router(ctx).resolve(user, where)
    settings = agent.settings
    if policy is not None:
        settings = replace(settings, compute_provider=None, compute_policy=policy)
    result = placement(get_context(ctx).router, settings, region=region, unoffered=True)
    return placement_out(str(agent.address), result)


def print_decision(decision: PlacementOut) -> None:
    """The decision as a table: kept providers in fail-over order, then the dropped ones."""
    console.print(
        f"[bold]{markup_safe(decision.agent)}[/]: policy {decision.policy}, "
        f"caller region {decision.caller_region or 'unknown'}, "
        f"pinned region {decision.pinned_region or 'none'}",
        highlight=False,
    )
    table = Table(show_edge=False)
    for column in ("provider", "region", "credits/h", "warm ms", "health", "decision", "reason"):
        table.add_column(column)
    for row in decision.providers:
        table.add_row(
            row.provider,
            row.region or "-",
            price_text(row.price_per_hour),
            f"{row.warm_start_ms:g}",
            row.health,
            f"[green]kept #{row.rank}[/]" if row.kept else "[red]dropped[/]",
            markup_safe(row.reason),
        )
    console.print(table)
    if decision.refusal:
        console.print(f"[bold red]refused:[/] {markup_safe(decision.refusal)}", highlight=False)
