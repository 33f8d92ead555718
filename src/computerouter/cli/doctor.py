"""``computerouter doctor``: what this machine offers for isolation, cgroups and services."""

from __future__ import annotations

import httpx
import typer
from rich.table import Table

from computerouter.cli.context import get_context
from computerouter.cli.daemon import describe
from computerouter.cli.render import console
from computerouter.compute.daemon import daemon_status
from computerouter.compute.lifecycle import needs_lifecycle
from computerouter.config import Settings
from computerouter.errors import ComputeRouterError
from computerouter.runtimes.hermes import HermesImage
from computerouter.store import open_store

__all__ = ["doctor"]

_STATUS = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "missing": "[red]missing[/]"}


def _model_row(settings: Settings) -> tuple[str, str, str]:
    url = settings.effective_model_base_url
    what = "bundled stand-in (a test model, not a real one)" if settings.uses_standin_model else url
    try:
        response = httpx.get(f"{url}/models", timeout=2.0, headers=_auth(settings))
    except httpx.HTTPError:
        if settings.uses_standin_model:
            return ("model", "ok", f"{what}: started on the first run")
        return ("model", "warn", f"{what}: not reachable from this host")
    status = "ok" if response.status_code == 200 else "warn"
    return ("model", status, f"{what}: GET /models answered {response.status_code}")


def _daemon_row(settings: Settings, needed: bool | None) -> tuple[str, str, str]:
    status = daemon_status(settings.home)
    if status.running:
        return ("lifecycle daemon", "ok", describe(status))
    how = (
        "starts on demand"
        if settings.lifecycle_daemon
        else "lifecycle_daemon is off: `computerouter daemon start` or `compute reap` runs it"
    )
    if needed:
        return (
            "lifecycle daemon",
            "warn",
            f"not running while sessions are live, so idle ones do not suspend ({how})",
        )
    return ("lifecycle daemon", "ok", f"not running: no session needs it ({how})")


def _auth(settings: Settings) -> dict[str, str]:
    key = settings.model_api_key
    return {"Authorization": f"Bearer {key}"} if key else {}


def doctor(ctx: typer.Context) -> None:
    """Check isolation (bubblewrap, namespaces, uids), cgroups, archive tools and the store."""
    from computerouter.providers.local import probe

    settings = get_context(ctx).settings
    table = Table(title="computerouter doctor", title_justify="left")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail")
    rows: list[tuple[str, str, str]] = list(probe().rows())
    needed: bool | None = None
    try:
        store = open_store(settings.effective_database_url)
        try:
            needed = needs_lifecycle(store)
        finally:
            store.close()
        backend = settings.effective_database_url.split(":", 1)[0]
        rows.append(("store", "ok", f"{backend} reachable and migrated"))
    except ComputeRouterError as exc:
        rows.append(("store", "missing", str(exc)))
    rows.append(_daemon_row(settings, needed))
    rows.append(("data directory", "ok", str(settings.home)))
    image = HermesImage(images_dir=settings.images_path)
    rows.append(
        ("hermes image", "ok", f"hermes-agent {image.version} at {image.path}")
        if image.ready
        else ("hermes image", "warn", f"not built yet: the first Hermes run builds {image.path}")
    )
    rows.append(_model_row(settings))
    for check, status, detail in rows:
        table.add_row(check, _STATUS.get(status, status), detail)
    console.print(table)
    if any(status == "missing" for _, status, _ in rows):
        raise typer.Exit(1)
