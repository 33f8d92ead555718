"""``computerouter compute ...``: sessions, the reaper, per-sandbox lifecycle settings."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from computerouter.agents.factory import agent_router_for
from computerouter.cli import pauses, pool, providers
from computerouter.cli.context import get_context
from computerouter.cli.daemon import lifecycle_on_demand
from computerouter.cli.remote import client_for
from computerouter.cli.render import (
    console,
    detail_table,
    format_duration,
    parse_ceiling,
    parse_duration,
    print_json,
    session_dict,
    session_table,
)
from computerouter.cli.run import prepare_runtime
from computerouter.cli.session_logs import logs
from computerouter.cli.terminal import markup_safe
from computerouter.compute.lifecycle import lifecycle_pass
from computerouter.compute.offers import resolve
from computerouter.compute.sandbox_settings import lifecycle_defaults, put_sandbox_settings
from computerouter.compute.session_io import session_exec
from computerouter.domain.limits import EXEC_TIMEOUT_MAX_S
from computerouter.domain.session import LifecycleDefaults, SandboxSettings, SessionRecord
from computerouter.domain.states import LIVE_STATES
from computerouter.domain.values import Resources, SessionKey
from computerouter.errors import InputError

__all__ = ["app"]

app = typer.Typer(help="Compute sessions and their lifecycle.", no_args_is_help=True)
sessions_app = typer.Typer(help="Inspect and drive compute sessions.", no_args_is_help=True)
sandboxes_app = typer.Typer(
    help="Per-sandbox lifecycle settings and runtime ceilings.", no_args_is_help=True
)
app.add_typer(sessions_app, name="sessions")
app.command("pause")(pauses.pause)
app.command("unpause")(pauses.unpause)
app.command("pauses")(pauses.pauses)
app.command("providers")(providers.providers)
app.add_typer(sandboxes_app, name="sandboxes")
app.add_typer(pool.app, name="pool")
sessions_app.command("logs")(logs)

SessionId = Annotated[str, typer.Argument(help="Session id (ses_...).", show_default=False)]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _show(
    ctx: typer.Context, record: SessionRecord, *, as_json: bool, took_s: float | None
) -> None:
    remote = bool(get_context(ctx).server)
    router = None if remote else get_context(ctx).router
    now = time.time() if router is None else router.clock.now()
    if as_json:
        data = session_dict(record, now)
        if took_s is not None:
            data["took_s"] = round(took_s, 6)
        print_json(data)
        return
    history = [] if router is None else router.store.sessions.history(record.id)
    console.print(detail_table(record, history, now))
    if took_s is not None:
        console.print(f"[dim]took {took_s * 1000:.1f} ms[/]")


@sessions_app.command("ensure")
def ensure(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="User id that owns the sandbox.")],
    sandbox: Annotated[str, typer.Option("--sandbox", help="Sandbox id.")],
    provider: Annotated[
        str | None, typer.Option(help="Provider (default: placement picks one).")
    ] = None,
    runtime: Annotated[
        str | None,
        typer.Option(help="Runtime to run (default: the sandbox's agents', else hermes)."),
    ] = None,
    cpus: Annotated[float, typer.Option(help="CPU limit.")] = 1.0,
    memory_mb: Annotated[int, typer.Option(help="Memory limit in MiB.")] = 2048,
    as_json: JsonFlag = False,
) -> None:
    """Pre-warm: make sure (user, sandbox) has a running session for its agents, and print it.

    The session runs the runtime the sandbox's agents need; a live session running another
    one is switched to it (its workspace kept)."""
    key = SessionKey(user_id=user, sandbox_id=sandbox)
    resources = Resources(cpus=cpus, memory_mb=memory_mb)
    client = client_for(ctx, user)
    if client is not None:
        started = time.perf_counter()
        with console.status(f"ensuring a session for {key}…", spinner="dots"):
            made = client.compute.sessions.ensure(sandbox, provider=provider, runtime=runtime)
        _show(ctx, made.to_record(), as_json=as_json, took_s=time.perf_counter() - started)
        return
    lifecycle_on_demand(ctx)
    context = get_context(ctx)
    router = context.router
    if provider is not None:
        router.provider(provider)
    if runtime is None:
        runtime = agent_router_for(router).sandbox_runtime(user, sandbox)
    router.runtime(runtime)
    # Refused by a pause? Say so before a runtime image is built.
    router.gates.admit(user, [name for name, _ in resolve(router, provider, "", resources)])
    prepare_runtime(context.settings, runtime, quiet=as_json)
    started = time.perf_counter()
    with console.status(f"ensuring a session for {key}…", spinner="dots"):
        record = router.ensure_session(key, provider=provider, runtime=runtime, resources=resources)
    _show(ctx, record, as_json=as_json, took_s=time.perf_counter() - started)


@sessions_app.command("list")
def list_sessions(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this user.")] = None,
    sandbox: Annotated[str | None, typer.Option("--sandbox", help="Only this sandbox.")] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Include destroyed and failed sessions.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """List compute sessions (live ones unless --all)."""
    client = client_for(ctx, user)
    if client is not None:
        found = client.compute.sessions.list(sandbox, include_ended=show_all)
        records = [s.to_record() for s in found]
        now = time.time()
    else:
        router = get_context(ctx).router
        states = None if show_all else sorted(LIVE_STATES)
        records = router.store.sessions.list(user_id=user, sandbox_id=sandbox, states=states)
        now = router.clock.now()
    if as_json:
        print_json([session_dict(r, now) for r in records])
        return
    if not records:
        console.print("[dim]no compute sessions[/]")
        return
    console.print(session_table(records, now))


@sessions_app.command("show")
def show(ctx: typer.Context, session_id: SessionId, as_json: JsonFlag = False) -> None:
    """Show one session, with its recent lifecycle history."""
    client = client_for(ctx, None)
    record = (
        get_context(ctx).router.get(session_id)
        if client is None
        else client.compute.sessions.get(session_id).to_record()
    )
    _show(ctx, record, as_json=as_json, took_s=None)


def _action(ctx: typer.Context, verb: str, session_id: str, as_json: bool) -> None:
    client = client_for(ctx, None)
    if client is not None:
        sessions = client.compute.sessions
        act = {
            "suspend": sessions.suspend,
            "resume": sessions.resume,
            "archive": sessions.archive,
            "destroy": sessions.destroy,
            "recover": sessions.recover,
        }[verb]
        started = time.perf_counter()
        with console.status(f"{verb} {markup_safe(session_id)}…", spinner="dots"):
            record = act(session_id).to_record()
        _show(ctx, record, as_json=as_json, took_s=time.perf_counter() - started)
        return
    if verb in ("suspend", "resume"):
        lifecycle_on_demand(ctx)  # the session is left live: it still suspends or archives
    router = get_context(ctx).router
    operation = {
        "suspend": router.suspend,
        "resume": router.resume,
        "archive": router.archive,
        "destroy": router.destroy,
        "recover": router.recover,
    }[verb]
    started = time.perf_counter()
    with console.status(f"{verb} {markup_safe(session_id)}…", spinner="dots"):
        record = operation(session_id)
    _show(ctx, record, as_json=as_json, took_s=time.perf_counter() - started)


@sessions_app.command("suspend")
def suspend(ctx: typer.Context, session_id: SessionId, as_json: JsonFlag = False) -> None:
    """Freeze a running session in place (no CPU used; resumes in milliseconds)."""
    _action(ctx, "suspend", session_id, as_json)


@sessions_app.command("resume")
def resume(ctx: typer.Context, session_id: SessionId, as_json: JsonFlag = False) -> None:
    """Thaw a suspended session or restore an archived one."""
    _action(ctx, "resume", session_id, as_json)


@sessions_app.command("archive")
def archive(ctx: typer.Context, session_id: SessionId, as_json: JsonFlag = False) -> None:
    """Stop a session and pack its workspace; it restores on the next invocation."""
    _action(ctx, "archive", session_id, as_json)


@sessions_app.command("recover")
def recover(ctx: typer.Context, session_id: SessionId, as_json: JsonFlag = False) -> None:
    """Bring back a failed session whose workspace is kept as an archive (the next run
    restores it, memory included)."""
    _action(ctx, "recover", session_id, as_json)


@sessions_app.command("destroy")
def destroy(ctx: typer.Context, session_id: SessionId, as_json: JsonFlag = False) -> None:
    """Tear a session down for good, removing everything it held."""
    _action(ctx, "destroy", session_id, as_json)


@sessions_app.command(
    "exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def exec_in_session(
    ctx: typer.Context,
    session_id: SessionId,
    timeout: Annotated[float, typer.Option(help="Seconds before the command is killed.")] = 30.0,
) -> None:
    """Run a command inside a running session: exec ID -- CMD [ARGS]..."""
    if not 0 < timeout <= EXEC_TIMEOUT_MAX_S:  # also refuses nan
        raise InputError(
            f"--timeout must be more than 0 and at most {EXEC_TIMEOUT_MAX_S:g} seconds, "
            f"not {timeout:g}"
        )
    if not ctx.args:
        raise typer.BadParameter("give the command after --, e.g. exec ID -- id -u")
    client = client_for(ctx, None)
    if client is None:
        result = session_exec(get_context(ctx).router, session_id, ctx.args, timeout_s=timeout)
    else:  # an admin key's: the server refuses any other
        result = client.compute.sessions.exec(session_id, ctx.args, timeout_s=timeout).to_result()
    if result.stdout:
        console.out(result.stdout, end="", highlight=False)
    if result.stderr:
        typer.echo(result.stderr, err=True, nl=False)
    raise typer.Exit(result.exit_code)


@app.command("reap")
def reap(
    ctx: typer.Context,
    every: Annotated[
        str | None,
        typer.Option(help="Keep running, one pass per interval (e.g. 30s); Ctrl-C stops."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """One lifecycle pass by hand: converge with providers, suspend or archive idle sessions,
    repair the ledger (what the lifecycle daemon does by itself). With --every, a pass per
    interval until stopped."""
    router = get_context(ctx).router
    interval = None if every is None else parse_duration(every)
    if interval is not None and interval <= 0:
        raise InputError("--every must be longer than zero")
    if interval is None:
        lifecycle_on_demand(ctx)  # a session it adopted runs on, and goes idle later
    while True:
        with console.status("reconciling, reaping and settling the ledger…", spinner="dots"):
            report = lifecycle_pass(router)
        rows = report.outcomes()
        if as_json:
            print_json({name: items for name, items in rows})
        else:
            table = Table(title=f"reaper pass at {time.strftime('%H:%M:%S')}", title_justify="left")
            table.add_column("outcome")
            table.add_column("count", justify="right")
            table.add_column("items")
            for name, items in rows:
                table.add_row(name, str(len(items)), ", ".join(items))
            console.print(table)
        if interval is None:
            return
        time.sleep(interval)


@sandboxes_app.command("set")
def sandbox_set(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="User id.")],
    sandbox: Annotated[str, typer.Option("--sandbox", help="Sandbox id.")],
    idle_suspend: Annotated[
        str | None, typer.Option(help="Idle time before suspend, e.g. 15m.")
    ] = None,
    archive_after: Annotated[
        str | None, typer.Option(help="Idle time before archive, e.g. 7d.")
    ] = None,
    max_run: Annotated[
        str | None, typer.Option(help="Ceiling on one run's running time, e.g. 30m.")
    ] = None,
    max_uptime: Annotated[
        str | None, typer.Option(help="Uptime before a forced suspend, even if busy, e.g. 12h.")
    ] = None,
) -> None:
    """Set a sandbox's idle-suspend and archive windows (archive after is not shorter) and its
    runtime ceilings (``default``: back to the default setting)."""
    key = SessionKey(user_id=user, sandbox_id=sandbox)
    run_ceiling = None if max_run is None else _ceiling_flag(max_run, "--max-run")
    uptime_ceiling = None if max_uptime is None else _ceiling_flag(max_uptime, "--max-uptime")
    idle = None if idle_suspend is None else parse_duration(idle_suspend)
    archive = None if archive_after is None else parse_duration(archive_after)
    if idle is not None and idle <= 0:
        raise InputError("--idle-suspend must be longer than zero")
    if idle is not None and archive is not None and archive < idle:
        raise InputError(
            f"--archive-after ({format_duration(archive)}) is shorter than --idle-suspend "
            f"({format_duration(idle)}); a session suspends before it archives"
        )
    client = client_for(ctx, user)
    if client is None:
        router = get_context(ctx).router
        current = router.store.sandboxes.get(key)
        defaults = lifecycle_defaults(router.settings)
    else:
        found = client.sandboxes.settings(sandbox)
        current, defaults = found.to_settings(), found.defaults.to_defaults()
    updated = SandboxSettings(
        user_id=key.user_id,
        sandbox_id=key.sandbox_id,
        idle_suspend_s=idle if idle is not None else current.idle_suspend_s,
        archive_after_s=archive if archive is not None else current.archive_after_s,
        max_run_s=current.max_run_s if max_run is None else run_ceiling,
        max_uptime_s=current.max_uptime_s if max_uptime is None else uptime_ceiling,
    )
    effective_idle = (
        defaults.idle_suspend_s if updated.idle_suspend_s is None else updated.idle_suspend_s
    )
    effective_archive = (
        defaults.archive_after_s if updated.archive_after_s is None else updated.archive_after_s
    )
    if effective_archive < effective_idle:
        raise InputError(
            f"archive after ({format_duration(effective_archive)}) is shorter than idle suspend "
            f"({format_duration(effective_idle)}); a session suspends before it archives"
        )
    if client is None:
        put_sandbox_settings(get_context(ctx).router.store, updated, defaults)
    else:
        written = client.sandboxes.set_settings(
            sandbox,
            idle_suspend_s=updated.idle_suspend_s,
            archive_after_s=updated.archive_after_s,
            max_run_s=updated.max_run_s,
            max_uptime_s=updated.max_uptime_s,
        )
        updated, defaults = written.to_settings(), written.defaults.to_defaults()
    _print_sandbox(updated, defaults)


@sandboxes_app.command("show")
def sandbox_show(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="User id.")],
    sandbox: Annotated[str, typer.Option("--sandbox", help="Sandbox id.")],
) -> None:
    """Show a sandbox's lifecycle windows (its own or the defaults)."""
    key = SessionKey(user_id=user, sandbox_id=sandbox)
    client = client_for(ctx, user)
    if client is not None:
        found = client.sandboxes.settings(key.sandbox_id)
        _print_sandbox(found.to_settings(), found.defaults.to_defaults())
        return
    router = get_context(ctx).router
    _print_sandbox(router.store.sandboxes.get(key), lifecycle_defaults(router.settings))


def _ceiling_flag(text: str, flag: str) -> float | None:
    """A ceiling flag's value; ``default`` (``None``) goes back to the default setting."""
    return None if text.strip() == "default" else parse_ceiling(text, what=flag)


def _print_sandbox(s: SandboxSettings, defaults: LifecycleDefaults) -> None:
    def show(value: float | None, default: float) -> str:
        return format_duration(default) + " (default)" if value is None else format_duration(value)

    console.print(
        f"sandbox {s.user_id}/{s.sandbox_id}: suspend after "
        f"{show(s.idle_suspend_s, defaults.idle_suspend_s)} idle, archive after "
        f"{show(s.archive_after_s, defaults.archive_after_s)} idle; runs stop after "
        f"{show(s.max_run_s, defaults.max_run_s)}, the session suspends after "
        f"{show(s.max_uptime_s, defaults.max_uptime_s)} up"
    )
