"""``computerouter compute providers``: every registered provider, whether it is usable here,
what it offers, what it costs and how healthy it is."""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.table import Table

from computerouter.cli.agents import JsonFlag
from computerouter.cli.context import get_context
from computerouter.cli.render import console, print_json
from computerouter.cli.terminal import markup_safe
from computerouter.compute.offers import price_table
from computerouter.compute.router import ComputeRouter
from computerouter.ledger.money import format_credits
from computerouter.ledger.prices import ComputePrice, PriceTable
from computerouter.providers.registration import ProviderRegistration, registered
from computerouter.providers.registry import not_configured

__all__ = ["provider_dicts", "providers"]


def _price(price: ComputePrice) -> dict[str, int]:
    return {
        "cpu_hour": price.cpu_hour,
        "memory_gib_hour": price.memory_gib_hour,
        "shape_hour": price.shape_hour,
    }


def _prices(prices: PriceTable, record: ProviderRegistration) -> dict[str, object]:
    own = prices.compute.get(record.name)
    regions = {} if own is None else {r: _price(p) for r, p in own.regions.items()}
    return {"default": _price(prices.compute_price(record.name)), "regions": regions}


def provider_dicts(router: ComputeRouter) -> list[dict[str, object]]:
    prices = price_table(router)
    circuits = router.health.circuits()
    rows: list[dict[str, object]] = []
    for record in registered():
        reason = not_configured(record.name, router.settings)
        health = [
            {
                "region": c.region,
                "state": c.state,
                "open_until": c.open_until,
                "cooldown_s": c.cooldown_s,
                "failures": c.failures,
                "last_error": c.last_error,
                "probed_at": c.probed_at,
                "probe_error": c.probe_error,
            }
            for c in circuits
            if c.provider == record.name
        ]
        rows.append(
            {
                "name": record.name,
                "summary": record.summary,
                "configured": not reason,
                "to_configure": reason or None,
                "regions": list(record.capabilities.regions),
                "capabilities": asdict(record.capabilities),
                "prices": _prices(prices, record),
                "prices_source": prices.source,
                "health": health or [{"region": "", "state": "closed"}],
            }
        )
    return rows


def _health_text(rows: list[dict[str, object]], now: float) -> str:
    parts = []
    for h in rows:
        where = f"{h['region']}: " if h["region"] else ""
        state = str(h["state"])
        until = h.get("open_until")
        if state == "open" and isinstance(until, float) and until > now:
            state = f"open ({until - now:.0f} s left)"
        probed = h.get("probed_at")
        if isinstance(probed, float):
            said = "failed" if h.get("probe_error") else "ok"
            state += f", probed {max(0.0, now - probed):.0f} s ago: {said}"
        parts.append(where + state)
    return ", ".join(parts)


def providers(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every registered provider: configured or what to set, regions, capabilities, list
    prices (from the price table) and its circuits, with when each was last actively probed
    and what the probe said."""
    router = get_context(ctx).router
    rows = provider_dicts(router)
    if as_json:
        print_json(rows)
        return
    now = router.clock.now()
    table = Table(show_edge=False)
    for column in ("provider", "configured", "regions", "capabilities", "credits/h", "health"):
        table.add_column(column)
    for row in rows:
        caps = row["capabilities"]
        assert isinstance(caps, dict)
        can = [k for k in ("suspend", "archive", "exec") if caps[k]]
        can.append(f"warm {caps['warm_start_ms']:g} ms")
        if caps["max_sessions"]:
            can.append(f"max {caps['max_sessions']} sessions")
        prices = row["prices"]
        assert isinstance(prices, dict)
        default = prices["default"]
        price = (
            f"{format_credits(default['cpu_hour'])}/CPU + "
            f"{format_credits(default['memory_gib_hour'])}/GiB"
            + (f" + {format_credits(default['shape_hour'])}" if default["shape_hour"] else "")
        )
        if prices["regions"]:
            price += f" ({len(prices['regions'])} regional)"
        configured = "yes" if row["configured"] else f"no: {row['to_configure']}"
        regions = row["regions"]
        assert isinstance(regions, list)
        health = row["health"]
        assert isinstance(health, list)
        table.add_row(
            str(row["name"]),
            markup_safe(configured),
            ", ".join(regions) or "-",
            ", ".join(can),
            price,
            _health_text(health, now),
        )
    console.print(table)
