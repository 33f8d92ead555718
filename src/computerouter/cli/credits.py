"""``computerouter credits ...``: grant credits, show a user's balance, audit the ledger (this
machine's, or a server's through the SDK: grant and audit with an admin key)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from computerouter.cli.agents import user_option
from computerouter.cli.context import get_context
from computerouter.cli.remote import client_for
from computerouter.cli.render import console, print_json
from computerouter.compute.factory import process_alive
from computerouter.ledger import Ledger, format_credits, open_ledger, parse_credits
from computerouter.wire.models import AuditOut, CreditsOut, GrantOut

__all__ = ["app", "ledger_for"]

app = typer.Typer(help="Credit balances: grant, show, audit.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
UserOpt = Annotated[str, typer.Option("--user", help="User id (the account that pays).")]


def ledger_for(ctx: typer.Context) -> Ledger:
    cli = get_context(ctx)
    gate = cli.router.credit_gate
    if isinstance(gate, Ledger):
        return gate
    return open_ledger(cli.settings, cli.router.store, owner_alive=process_alive)


@app.command("grant")
def grant(
    ctx: typer.Context,
    user: UserOpt,
    amount: Annotated[
        str, typer.Argument(help="Credits, exact to six decimals (e.g. 10 or 12.5).")
    ],
    key: Annotated[
        str, typer.Option(help="Idempotency key: granting again with it grants once.")
    ] = "",
    note: Annotated[str, typer.Option(help="Why, for the record.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Give a user credits (a double entry: platform grants -> the user's account). Against a
    server, this needs an admin key."""
    user = user_option(ctx, user)
    micro = parse_credits(amount)
    client = client_for(ctx, None)
    if client is not None:
        done = client.credits.grant(user, micro, key=key, note=note)
    else:
        ledger = ledger_for(ctx)
        entry = ledger.grant(user, micro, key=key, note=note)
        after = CreditsOut.from_ledger(ledger, user)
        done = GrantOut(**after.model_dump(), entry_id=entry.id, granted_micro=entry.amount)
    if as_json:
        print_json(
            {
                "entry_id": done.entry_id,
                "user_id": done.user_id,
                "granted_micro": done.granted_micro,
                "balance_micro": done.balance_micro,
                "available_micro": done.available_micro,
            }
        )
        return
    console.print(
        f"granted [bold]{format_credits(done.granted_micro)}[/] credits to {user} "
        f"(entry {done.entry_id}); balance {format_credits(done.balance_micro)}, "
        f"available {format_credits(done.available_micro)}"
    )


@app.command("show")
def show(
    ctx: typer.Context,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            help="User id [default: the acting user; against a server, the key's own].",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """A user's balance, credit held for runs in flight, and what is available. Against a
    server, a user key shows its own user's; an admin key any user's."""
    client = client_for(ctx, user)
    shown = (
        CreditsOut.from_ledger(ledger_for(ctx), user_option(ctx, user))
        if client is None
        else client.credits.get()
    )
    if as_json:
        print_json(shown.model_dump())
        return
    table = Table(show_header=False, title=f"credits of {shown.user_id}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", justify="right")
    table.add_row("balance", format_credits(shown.balance_micro))
    table.add_row("held for runs in flight", format_credits(shown.reserved_micro))
    table.add_row("available", format_credits(shown.available_micro))
    table.add_row(
        "each run holds",
        f"{format_credits(shown.run_reserve_micro)} to {format_credits(shown.run_max_micro)}",
    )
    derived = shown.balance_from_entries_micro
    check = "[green]equal[/]" if derived == shown.balance_micro else "[red]DIFFERENT[/]"
    table.add_row("sum of entries", f"{format_credits(derived)} ({check})")
    console.print(table)


@app.command("audit")
def audit(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Check every account's balance against the sum of its entries, and every hold against a
    live run; exit 1 if any differ or any hold has no live run (``compute reap`` repairs it).
    Against a server, this needs an admin key."""
    client = client_for(ctx, None)
    if client is not None:
        found = client.credits.audit()
    else:
        ledger = ledger_for(ctx)
        found = AuditOut.from_ledger(ledger, now=ledger.clock.now())
    if as_json:
        print_json(found.model_dump())
    else:
        dead = found.holds_without_live_run
        console.print(
            f"{found.accounts} accounts; {len(found.mismatched)} differ from their entries; "
            f"balances sum to {format_credits(found.sum_of_balances_micro)} (must be 0); "
            f"{len(dead)} holds without a live run"
        )
        for d in dead:
            console.print(
                f"  hold of run {d.run_id} ({d.user_id}, "
                f"{format_credits(d.held_micro)} credits): {d.why}; "
                "`computerouter compute reap` gives it back"
            )
    if not found.clean:
        raise typer.Exit(1)
