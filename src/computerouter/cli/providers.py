"""``computerouter compute providers``: every registered provider, whether it is usable here
(or on the server, with ``--server``), what it offers, what it costs and how healthy it is."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from computerouter.cli.agents import JsonFlag
from computerouter.cli.context import get_context
from computerouter.cli.remote import client_for
from computerouter.cli.render import console, print_json
from computerouter.cli.terminal import markup_safe
from computerouter.ledger.money import format_credits
from computerouter.wire.models import CircuitOut, ProviderReportOut
from computerouter.wire.provider_reports import provider_reports

__all__ = ["print_providers", "providers"]


def _health_text(rows: list[CircuitOut], now: float) -> str:
    parts = []
    for h in rows:
        where = f"{h.region}: " if h.region else ""
        state = h.state
        if state == "open" and h.open_until is not None and h.open_until > now:
            state = f"open ({h.open_until - now:.0f} s left)"
        if h.probed_at is not None:
            said = "failed" if h.probe_error else "ok"
            state += f", probed {max(0.0, now - h.probed_at):.0f} s ago: {said}"
        parts.append(where + state)
    return ", ".join(parts)


def print_providers(rows: list[ProviderReportOut], now: float) -> None:
    table = Table(show_edge=False)
    for column in ("provider", "configured", "regions", "capabilities", "credits/h", "health"):
        table.add_column(column)
    for row in rows:
        caps = row.capabilities
        can = [k for k, on in (("suspend", caps.suspend), ("archive", caps.archive)) if on]
        can += ["exec"] if caps.exec else []
        can.append(f"warm {caps.warm_start_ms:g} ms")
        if caps.max_sessions:
            can.append(f"max {caps.max_sessions} sessions")
        default = row.prices.default
        price = (
            f"{format_credits(default.cpu_hour)}/CPU + "
            f"{format_credits(default.memory_gib_hour)}/GiB"
            + (f" + {format_credits(default.shape_hour)}" if default.shape_hour else "")
        )
        if row.prices.regions:
            price += f" ({len(row.prices.regions)} regional)"
        configured = "yes" if row.configured else f"no: {row.to_configure}"
        table.add_row(
            row.name,
            markup_safe(configured),
            ", ".join(row.regions) or "-",
            ", ".join(can),
            price,
            _health_text(row.health, now),
        )
    console.print(table)


def providers(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every registered provider: configured or what to set, regions, capabilities, list
    prices (from the price table) and its circuits, with when each was last actively probed
    and what the probe said."""
    client = client_for(ctx, None)
    if client is not None:
        rows = client.providers.report()
        now = time.time()
    else:
        router = get_context(ctx).router
        rows = provider_reports(router)
        now = router.clock.now()
    if as_json:
        print_json([row.model_dump() for row in rows])
        return
    print_providers(rows, now)
