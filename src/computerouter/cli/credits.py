"""``computerouter credits ...``: grant credits, show a user's balance, audit the ledger."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from computerouter.cli.agents import user_option
from computerouter.cli.context import get_context
from computerouter.cli.render import console, print_json
from computerouter.compute.factory import process_alive
from computerouter.ledger import Ledger, dead_holds, format_credits, open_ledger, parse_credits

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
    """Give a user credits (a double entry: platform grants -> the user's account)."""
    user = user_option(ctx, user)
    micro = parse_credits(amount)
    ledger = ledger_for(ctx)
    entry = ledger.grant(user, micro, key=key, note=note)
    account = ledger.account(user)
    if as_json:
        print_json(
            {
                "entry_id": entry.id,
                "user_id": user,
                "granted_micro": entry.amount,
                "balance_micro": account.balance,
                "available_micro": account.available,
            }
        )
        return
    console.print(
        f"granted [bold]{format_credits(entry.amount)}[/] credits to {user} "
        f"(entry {entry.id}); balance {format_credits(account.balance)}, "
        f"available {format_credits(account.available)}"
    )


@app.command("show")
def show(ctx: typer.Context, user: UserOpt, as_json: JsonFlag = False) -> None:
    """A user's balance, credit held for runs in flight, and what is available."""
    user = user_option(ctx, user)
    ledger = ledger_for(ctx)
    account = ledger.account(user)
    derived = ledger.ledger_store.balances_from_entries(account.account_id).get(
        account.account_id, 0
    )
    budget = ledger.prices.budget
    if as_json:
        print_json(
            {
                "user_id": user,
                "balance_micro": account.balance,
                "reserved_micro": account.reserved,
                "available_micro": account.available,
                "balance_from_entries_micro": derived,
                "run_reserve_micro": budget.run_reserve,
                "run_max_micro": budget.run_max,
                "floor_micro": budget.floor,
            }
        )
        return
    table = Table(show_header=False, title=f"credits of {user}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", justify="right")
    table.add_row("balance", format_credits(account.balance))
    table.add_row("held for runs in flight", format_credits(account.reserved))
    table.add_row("available", format_credits(account.available))
    table.add_row(
        "each run holds",
        f"{format_credits(budget.run_reserve)} to {format_credits(budget.run_max)}",
    )
    check = "[green]equal[/]" if derived == account.balance else "[red]DIFFERENT[/]"
    table.add_row("sum of entries", f"{format_credits(derived)} ({check})")
    console.print(table)


@app.command("audit")
def audit(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Check every account's balance against the sum of its entries, and every hold against a
    live run; exit 1 if any differ or any hold has no live run (``compute reap`` repairs it)."""
    ledger = ledger_for(ctx)
    derived = ledger.ledger_store.balances_from_entries()
    accounts = ledger.ledger_store.accounts()
    wrong = [a for a in accounts if derived.get(a.account_id, 0) != a.balance]
    total = sum(a.balance for a in accounts)
    dead = dead_holds(ledger, now=ledger.clock.now())
    if as_json:
        print_json(
            {
                "accounts": len(accounts),
                "mismatched": [a.account_id for a in wrong],
                "sum_of_balances_micro": total,
                "holds_without_live_run": [
                    {
                        "run_id": d.run.run_id,
                        "user_id": d.run.user_id,
                        "held_micro": d.run.hold,
                        "why": d.fate.value,
                    }
                    for d in dead
                ],
            }
        )
    else:
        console.print(
            f"{len(accounts)} accounts; {len(wrong)} differ from their entries; "
            f"balances sum to {format_credits(total)} (must be 0); "
            f"{len(dead)} holds without a live run"
        )
        for d in dead:
            console.print(
                f"  hold of run {d.run.run_id} ({d.run.user_id}, "
                f"{format_credits(d.run.hold)} credits): {d.fate.value}; "
                "`computerouter compute reap` gives it back"
            )
    if wrong or total != 0 or dead:
        raise typer.Exit(1)
