"""``computerouter daemon ...``: the per-home lifecycle daemon, and starting it on demand.

Commands that can leave a session live (running, suspended, or mid-operation if they are
interrupted) call :func:`lifecycle_on_demand` first; when the command ends, however it ends, a
daemon is started for the home if some session needs the lifecycle and none runs. The
``lifecycle_daemon`` setting turns that off.
"""

from __future__ import annotations

import time

import typer

from computerouter.cli.context import get_context
from computerouter.cli.render import console, err_console, format_duration
from computerouter.compute.daemon import daemon_status, ensure_daemon, run_daemon, stop_daemon
from computerouter.compute.daemon_files import DaemonFiles, DaemonStatus
from computerouter.compute.lifecycle import needs_lifecycle
from computerouter.config import Settings
from computerouter.errors import ComputeRouterError

__all__ = ["app", "describe", "lifecycle_on_demand"]

app = typer.Typer(
    help="The lifecycle daemon: suspends and archives idle sessions by itself.",
    no_args_is_help=True,
)


def lifecycle_on_demand(ctx: typer.Context) -> None:
    """Make sure the home's lifecycle daemon runs once this command is over, if it is needed."""
    cli = get_context(ctx)

    def after() -> None:
        router = cli.opened_router
        if router is None or not cli.settings.lifecycle_daemon:
            return
        try:
            if needs_lifecycle(router.store) or router.pool.holds_any():
                ensure_daemon(cli.settings)
        except (ComputeRouterError, OSError) as exc:
            err_console.print(
                f"[yellow]warning:[/] could not start the lifecycle daemon: {exc}",
                highlight=False,
            )

    ctx.call_on_close(after)


def _clock(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def describe(status: DaemonStatus, *, now: float | None = None) -> str:
    """One line: whether it runs, its pid, since when, and its last pass."""
    now = time.time() if now is None else now
    last = ""
    if status.last_pass_at is not None:
        ago = format_duration(now - status.last_pass_at)
        last = f"; last pass {_clock(status.last_pass_at)} ({ago} ago): {status.last_outcome}"
    if status.running:
        pid = "starting" if status.pid is None else f"pid {status.pid}"
        since = "" if status.started_at is None else f", since {_clock(status.started_at)}"
        return f"lifecycle daemon running ({pid}{since}, {status.passes} passes){last}"
    exited = ""
    if status.exited_at is not None:
        exited = f"; last one exited {_clock(status.exited_at)} ({status.exit_reason})"
    return f"lifecycle daemon not running for {status.home}{exited}{last}"


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Whether the daemon runs for this home (exit 0) or not (exit 3), and its last pass."""
    current = daemon_status(get_context(ctx).settings.home)
    console.print(describe(current), highlight=False, soft_wrap=True)
    if not current.running:
        raise typer.Exit(3)


@app.command("stop")
def stop(ctx: typer.Context) -> None:
    """Stop the daemon after its current pass (a command leaving a session live restarts it)."""
    home = get_context(ctx).settings.home
    before = stop_daemon(home)
    if before.running:
        console.print(f"stopped the lifecycle daemon (pid {before.pid}) for {home}")
    else:
        console.print(f"no lifecycle daemon was running for {home}", highlight=False)


@app.command("start")
def start(ctx: typer.Context) -> None:
    """Start the daemon now if a session needs it (even with lifecycle_daemon off)."""
    cli = get_context(ctx)
    settings: Settings = cli.settings
    if not needs_lifecycle(cli.router.store):
        console.print("no session needs the lifecycle; the daemon was not started")
        return
    already = daemon_status(settings.home)
    now = ensure_daemon(settings, wait_s=30.0)
    if not now.running:
        log = DaemonFiles.of(settings.home).log
        raise ComputeRouterError(f"the lifecycle daemon did not start; see {log}")
    verb = "already running" if already.running and already.pid == now.pid else "started"
    console.print(f"lifecycle daemon {verb} (pid {now.pid}) for {settings.home}")


@app.command("run", hidden=True)
def run(ctx: typer.Context) -> None:
    """Serve this home in the foreground (what the on-demand start runs, detached)."""
    run_daemon(get_context(ctx).settings)
