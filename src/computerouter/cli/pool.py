"""``computerouter compute pool status|fill``: the warm pools of pre-booted sessions."""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.table import Table

from computerouter.cli.agents import JsonFlag
from computerouter.cli.context import get_context
from computerouter.cli.daemon import lifecycle_on_demand
from computerouter.cli.render import console, format_duration, print_json

__all__ = ["app"]

app = typer.Typer(
    help="Warm pools: sessions booted and frozen before a new sandbox asks for one.",
    no_args_is_help=True,
)


@app.command("status")
def status(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Each pool the warm_pool setting names: its size, what it keeps now (nothing while
    idle), how many instances are ready to claim and how many are booting."""
    router = get_context(ctx).router
    rows = router.pool.status()
    if as_json:
        print_json([asdict(row) for row in rows])
        return
    if not rows:
        console.print("no warm pool (set warm_pool, e.g. local:hermes=2)")
        return
    table = Table(show_edge=False)
    for column in ("provider", "runtime", "size", "keeping", "ready", "booting", "idle for"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.provider,
            row.runtime,
            str(row.size),
            str(row.target),
            str(row.ready),
            str(row.booting),
            format_duration(row.idle_for_s),
        )
    console.print(table)


@app.command("fill")
def fill(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Fill (or shrink) the pools now, as the lifecycle pass does by itself."""
    router = get_context(ctx).router
    lifecycle_on_demand(ctx)  # the daemon keeps them filled, and shrinks them when idle
    with console.status("booting pooled sessions…", spinner="dots"):
        report = router.pool.maintain()
    if as_json:
        print_json(asdict(report))
        return
    console.print(
        f"booted {len(report.booted)}, discarded {len(report.discarded)}", highlight=False
    )
    for error in report.errors:
        console.print(f"[red]error:[/] {error}", highlight=False)
    if report.errors:
        raise typer.Exit(1)
