"""``computerouter usage``: what runs, agents, sandboxes and users cost, from the ledger (this
machine's, or a server's through the SDK: the same lines and entries, rendered by the same code)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from computerouter.cli.credits import ledger_for
from computerouter.cli.remote import client_for
from computerouter.cli.render import console, format_duration, parse_duration, print_json
from computerouter.errors import InputError, NotFound
from computerouter.ledger import LedgerEntry, UsageLine, format_credits, usage_lines
from computerouter.ledger.prices import RATE_DENOMINATOR

__all__ = ["app", "parse_since"]

app = typer.Typer(
    help="Cost per run, agent, sandbox and user: token, compute and idle.",
    invoke_without_command=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def parse_since(text: str, *, now: float) -> float:
    """``"7d"`` / ``"12h"`` (that long ago) or an ISO date/time (UTC unless it names a zone)."""
    try:
        return now - parse_duration(text)
    except InputError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"not a time: {text!r} (use e.g. 7d, 12h, 2026-01-31 or 2026-01-31T08:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@app.callback()
def usage(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this user.")] = None,
    sandbox: Annotated[str | None, typer.Option("--sandbox", help="Only this sandbox.")] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", help="Only this agent (leaves out idle time).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this time: 7d, 12h, or an ISO date.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Runs, token cost, compute cost, idle cost and total per (user, sandbox, agent)."""
    if ctx.invoked_subcommand is not None:
        return
    start = None if since is None else parse_since(since, now=time.time())
    client = client_for(ctx, user)
    if client is not None:
        found = client.usage.get(sandbox_id=sandbox, agent_id=agent, since=start)
        lines = [x.to_line() for x in found.lines]
    else:
        lines = usage_lines(
            ledger_for(ctx), user_id=user, sandbox_id=sandbox, agent_id=agent, since=start
        )
    total = UsageLine(
        user_id="",
        sandbox_id="",
        agent_id="",
        runs=sum(x.runs for x in lines),
        token=sum(x.token for x in lines),
        compute=sum(x.compute for x in lines),
        idle=sum(x.idle for x in lines),
        input_tokens=sum(x.input_tokens for x in lines),
        output_tokens=sum(x.output_tokens for x in lines),
        busy_ms=sum(x.busy_ms for x in lines),
        idle_ms=sum(x.idle_ms for x in lines),
    )
    if as_json:
        print_json(
            {
                "since": start,
                "lines": [_line_dict(x) for x in lines],
                "total": _line_dict(total, key=False),
            }
        )
        return
    if not lines:
        console.print("[dim]no usage recorded[/]")
        return
    table = Table(title="usage (credits)", title_justify="left", show_footer=True)
    table.add_column("user", footer="total", overflow="fold")
    table.add_column("sandbox", overflow="fold")
    table.add_column("agent", overflow="fold")
    table.add_column("runs", justify="right", footer=str(total.runs))
    table.add_column("tokens in/out", justify="right")
    table.add_column("busy", justify="right", footer=format_duration(total.busy_ms / 1000))
    table.add_column("token", justify="right", footer=format_credits(total.token))
    table.add_column("compute", justify="right", footer=format_credits(total.compute))
    table.add_column("idle", justify="right", footer=format_credits(total.idle))
    table.add_column("total", justify="right", footer=f"[bold]{format_credits(total.total)}[/]")
    for x in lines:
        table.add_row(
            x.user_id,
            x.sandbox_id,
            x.agent_id or "[dim](idle)[/]",
            str(x.runs) if x.agent_id else "",
            f"{x.input_tokens:,}/{x.output_tokens:,}" if x.agent_id else "",
            format_duration(x.busy_ms / 1000) if x.agent_id else format_duration(x.idle_ms / 1000),
            format_credits(x.token),
            format_credits(x.compute),
            format_credits(x.idle),
            format_credits(x.total),
        )
    console.print(table)


def _line_dict(x: UsageLine, *, key: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if key:
        out |= {"user_id": x.user_id, "sandbox_id": x.sandbox_id, "agent_id": x.agent_id}
    return out | {
        "runs": x.runs,
        "input_tokens": x.input_tokens,
        "output_tokens": x.output_tokens,
        "busy_ms": x.busy_ms,
        "idle_ms": x.idle_ms,
        "token_micro": x.token,
        "compute_micro": x.compute,
        "idle_micro": x.idle,
        "total_micro": x.total,
    }


def _entry_dict(e: LedgerEntry | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {
        "entry_id": e.id,
        "kind": e.kind.value,
        "amount_micro": e.amount,
        "debit_account": e.debit_account,
        "credit_account": e.credit_account,
        "session_id": e.session_id,
        "provider": e.provider,
        "region": e.region,
        "model": e.model,
        "quantity_ms": e.quantity_ms,
        "input_tokens": e.input_tokens,
        "output_tokens": e.output_tokens,
        "rate_per_ms": e.rate_per_ms,
        "rate_denominator": RATE_DENOMINATOR,
        "input_per_mtok_micro": e.input_per_mtok,
        "output_per_mtok_micro": e.output_per_mtok,
        "cpu_ms": e.cpu_ms,
        "at": e.at,
    }


@app.command("run")
def run_usage(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id (run_...).", show_default=False)],
    as_json: JsonFlag = False,
) -> None:
    """A run's two entries side by side: token cost and compute cost."""
    client = client_for(ctx, None)
    bill = (
        ledger_for(ctx).run_bill(run_id) if client is None else client.usage.run(run_id).to_bill()
    )
    first = bill.token or bill.compute
    if first is None:
        raise NotFound(f"no ledger entries for run {run_id!r} (not ended, or unknown)")
    if as_json:
        print_json(
            {
                "run_id": run_id,
                "user_id": first.user_id,
                "sandbox_id": first.sandbox_id,
                "agent_id": first.agent_id,
                "token": _entry_dict(bill.token),
                "compute": _entry_dict(bill.compute),
                "total_micro": bill.total,
            }
        )
        return
    table = Table(
        title=f"run {run_id} — {first.user_id}/{first.sandbox_id} agent {first.agent_id or '-'}",
        title_justify="left",
    )
    table.add_column("")
    table.add_column("token", justify="right")
    table.add_column("compute", justify="right")
    t, c = bill.token, bill.compute
    missing = "[yellow]missing (the repair pass writes it)[/]"

    rows: list[tuple[str, Callable[[LedgerEntry], str]]] = [
        ("cost (credits)", _cost),
        ("entry", _entry_id),
        ("what", _what),
        ("price", _price),
        ("where", _where),
    ]
    for name, show in rows:
        table.add_row(name, missing if t is None else show(t), missing if c is None else show(c))
    if c is not None and c.cpu_ms is not None:
        table.add_row("cpu (for the record)", "", format_duration(c.cpu_ms / 1000))
    table.add_row("total", "", f"[bold]{format_credits(bill.total)}[/]")
    console.print(table)


def _cost(e: LedgerEntry) -> str:
    return f"[bold]{format_credits(e.amount)}[/]"


def _entry_id(e: LedgerEntry) -> str:
    return str(e.id)


def _what(e: LedgerEntry) -> str:
    if e.kind.value == "token":
        return f"{e.input_tokens:,} in / {e.output_tokens:,} out"
    return f"{e.quantity_ms:,} ms running"


def _price(e: LedgerEntry) -> str:
    if e.kind.value == "token":
        if not e.model:
            return "no usage reported"
        if "," in e.model:
            return "several models"
        return f"{format_credits(e.input_per_mtok)} / {format_credits(e.output_per_mtok)} per 1M"
    per_hour = e.rate_per_ms * 3_600_000 // RATE_DENOMINATOR
    return f"{format_credits(per_hour)} per hour"


def _where(e: LedgerEntry) -> str:
    if e.kind.value == "token":
        return e.model or "-"
    return f"{e.provider}{'/' + e.region if e.region else ''} ({e.session_id})"
