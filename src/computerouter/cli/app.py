"""The command tree and its shared options."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from computerouter.cli import (
    compute,
    concierge,
    credits,
    daemon,
    demo,
    doctor,
    emulator,
    keys,
    mcp,
    route,
    runs,
    secrets,
    serve,
    usage,
)
from computerouter.cli.agents import agent_app
from computerouter.cli.context import CliContext
from computerouter.cli.run import run
from computerouter.errors import InputError

__all__ = ["app"]

app = typer.Typer(
    name="computerouter",
    help="ComputeRouter: managed compute sessions for self-hosted agent runtimes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(compute.app, name="compute")
app.add_typer(usage.app, name="usage")
app.add_typer(credits.app, name="credits")
app.add_typer(agent_app, name="agent")
app.add_typer(runs.app, name="runs")
app.add_typer(route.app, name="route")
app.add_typer(daemon.app, name="daemon")
app.command("run")(run)
app.command("doctor")(doctor.doctor)
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
app.command("mcp")(mcp.mcp)
app.command("concierge")(concierge.concierge)
app.add_typer(keys.app, name="keys")
app.add_typer(secrets.app, name="secrets")
app.add_typer(emulator.app, name="emulator")


def _print_version(value: bool) -> None:
    if not value:
        return
    try:
        found = package_version("computerouter")
    except PackageNotFoundError:  # run from a source tree that was never installed
        found = "unknown"
    typer.echo(f"computerouter {found}")
    raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(help="Data directory [env: COMPUTEROUTER_HOME; default ~/.computerouter]."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="Database URL [env: COMPUTEROUTER_DATABASE_URL; default SQLite]."),
    ] = None,
    server: Annotated[
        str,
        typer.Option(
            "--server",
            envvar="COMPUTEROUTER_URL",
            help="Act on this ComputeRouter API server instead [env: COMPUTEROUTER_URL].",
            show_default=False,
        ),
    ] = "",
    api_key: Annotated[
        str,
        typer.Option(
            "--api-key",
            envvar="COMPUTEROUTER_API_KEY",
            help="The API key for --server [env: COMPUTEROUTER_API_KEY].",
            show_default=False,
        ),
    ] = "",
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    if server:
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"--server must be an http(s):// URL, not {server!r}")
    ctx.obj = CliContext(
        home=home, database_url=database_url, server=server.rstrip("/"), api_key=api_key
    )
