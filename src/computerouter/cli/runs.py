"""``computerouter runs ...``: past and current runs, each with what it cost (from this machine's
store, or a server's through the SDK: the same summaries, rendered by the same code)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from computerouter.cli.context import get_context
from computerouter.cli.remote import client_for
from computerouter.cli.render import console, format_duration, print_json, styled_state
from computerouter.errors import InputError, NotFound
from computerouter.ledger import format_credits
from computerouter.store.run_history import RunHistory, RunSummary

__all__ = ["app"]

app = typer.Typer(help="Runs: agent, session, state, time and cost.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _history(ctx: typer.Context) -> RunHistory:
    return RunHistory(get_context(ctx).router.store.engine)


def _when(at: float | None) -> str:
    if at is None:
        return ""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _credits(micro: int | None) -> str:
    return "-" if micro is None else format_credits(micro)


def run_dict(s: RunSummary, now: float) -> dict[str, Any]:
    r = s.run
    return {
        "run_id": r.run_id,
        "agent": s.agent,
        "agent_id": r.agent_id,
        "user_id": r.user_id,
        "sandbox_id": r.sandbox_id,
        "session_id": r.session_id,
        "provider": s.provider,
        "state": r.state,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "duration_s": round(s.duration(now), 6),
        "token_micro": s.token_cost,
        "compute_micro": s.compute_cost,
        "total_micro": s.total_cost,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "model": s.model,
        "busy_ms": s.busy_ms,
    }


@app.command("list")
def list_runs(
    ctx: typer.Context,
    agent: Annotated[
        str | None, typer.Option("--agent", help="Only this agent: SLUG or SANDBOX/SLUG.")
    ] = None,
    sandbox: Annotated[str | None, typer.Option("--sandbox", help="Only this sandbox.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user.")] = None,
    limit: Annotated[int, typer.Option(help="How many of the latest runs.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """The latest runs, oldest first: agent, sandbox, session, state, time and cost."""
    if limit < 1:
        raise InputError("--limit must be at least 1")
    client = client_for(ctx, user)
    if client is not None:
        listed = client.runs.list(sandbox_id=sandbox, agent=agent, limit=limit)
        found = [s.to_summary() for s in listed]
    else:
        found = _history(ctx).list(user_id=user, sandbox_id=sandbox, agent=agent, limit=limit)
    now = time.time()
    if as_json:
        print_json([run_dict(s, now) for s in found])
        return
    if not found:
        console.print("[dim]no runs[/]")
        return
    table = Table(title="runs (credits)", title_justify="left")
    for column in ("run", "agent", "user", "sandbox", "session"):
        table.add_column(column, overflow="fold", no_wrap=column == "run")
    table.add_column("state", no_wrap=True)
    table.add_column("started (UTC)")
    table.add_column("ended (UTC)")
    for column in ("duration", "token", "compute", "total"):
        table.add_column(column, justify="right")
    for s in found:
        r = s.run
        table.add_row(
            r.run_id,
            s.agent,
            r.user_id,
            r.sandbox_id,
            r.session_id,
            styled_state(r.state),
            _when(r.started_at),
            _when(r.ended_at),
            format_duration(s.duration(now)),
            _credits(s.token_cost),
            _credits(s.compute_cost),
            _credits(s.total_cost),
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id (run_...).", show_default=False)],
    as_json: JsonFlag = False,
) -> None:
    """One run: where it ran, how it ended, how long it took and what it cost."""
    client = client_for(ctx, None)
    found = (
        _history(ctx).get(run_id) if client is None else client.runs.summary(run_id).to_summary()
    )
    if found is None:
        raise NotFound(f"no run {run_id!r}")
    now = time.time()
    if as_json:
        print_json(run_dict(found, now))
        return
    r = found.run
    table = Table(show_header=False, title=f"run {r.run_id}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    tokens = f" ({found.input_tokens:,} in / {found.output_tokens:,} out"
    tokens += f", {found.model})" if found.model else ")"
    busy = "" if found.busy_ms is None else f" ({format_duration(found.busy_ms / 1000)} running)"
    rows = [
        ("agent", f"{found.agent} ({r.agent_id})" if found.agent_slug else r.agent_id),
        ("user", r.user_id),
        ("sandbox", r.sandbox_id),
        ("session", f"{r.session_id} on {found.provider}" if found.provider else r.session_id),
        ("state", styled_state(r.state)),
        ("started", _when(r.started_at) + " UTC"),
        ("ended", _when(r.ended_at) + " UTC" if r.ended_at is not None else "(in flight)"),
        ("duration", format_duration(found.duration(now))),
        (
            "token cost",
            _credits(found.token_cost) + (tokens if found.token_cost is not None else ""),
        ),
        ("compute cost", _credits(found.compute_cost) + busy),
        ("total", f"[bold]{_credits(found.total_cost)}[/]"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if found.total_cost is None and r.ended_at is not None:
        console.print(
            "[dim]no ledger entries for this run (billing is off, or the repair pass has yet "
            "to write them)[/]"
        )
