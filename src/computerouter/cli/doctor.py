"""``computerouter doctor``: what this machine offers for isolation, cgroups and services."""

from __future__ import annotations

import typer
from rich.table import Table

from computerouter.cli.context import get_context
from computerouter.cli.render import console
from computerouter.errors import ComputeRouterError
from computerouter.store import open_store

__all__ = ["doctor"]

_STATUS = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "missing": "[red]missing[/]"}


def doctor(ctx: typer.Context) -> None:
    """Check isolation (bubblewrap, namespaces, uids), cgroups, archive tools and the store."""
    from computerouter.providers.local import probe

    settings = get_context(ctx).settings
    table = Table(title="computerouter doctor", title_justify="left")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail")
    rows: list[tuple[str, str, str]] = list(probe().rows())
    try:
        store = open_store(settings.effective_database_url)
        store.close()
        backend = settings.effective_database_url.split(":", 1)[0]
        rows.append(("store", "ok", f"{backend} reachable and migrated"))
    except ComputeRouterError as exc:
        rows.append(("store", "missing", str(exc)))
    rows.append(("data directory", "ok", str(settings.home)))
    for check, status, detail in rows:
        table.add_row(check, _STATUS.get(status, status), detail)
    console.print(table)
    if any(status == "missing" for _, status, _ in rows):
        raise typer.Exit(1)
