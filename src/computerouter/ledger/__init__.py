"""The credit ledger: accounts, price tables, metering, a run's two entries, repair, reports.

Money is integer micro-credits (:mod:`.money`); prices come from ``prices.toml``
(:mod:`.prices`); a session's running time is attributed to runs and to idle time by
:mod:`.metering`; each run ends with exactly two entries, token cost and compute cost, joined on
``run_id`` and written idempotently (:mod:`.billing`, :class:`.Ledger`); :func:`.repair` writes
whatever a crash left out; :class:`.SettleBatcher` settles runs ending at once together
(one transaction, one commit).
"""

from __future__ import annotations

from collections.abc import Callable

from computerouter.config import Settings
from computerouter.domain.clock import Clock
from computerouter.ledger.batcher import SettleBatcher
from computerouter.ledger.gate import CreditGate
from computerouter.ledger.holds import DeadHold, HoldFate, dead_holds
from computerouter.ledger.ledger import Ledger, RunBill
from computerouter.ledger.money import MICRO, format_credits, parse_credits
from computerouter.ledger.prices import (
    BudgetPolicy,
    ComputePrice,
    ComputeRate,
    ModelPrice,
    PriceTable,
    ProviderPrices,
    default_prices,
    load_prices,
    prices_path,
)
from computerouter.ledger.repair import RepairReport, repair
from computerouter.ledger.reports import UsageLine, usage_lines
from computerouter.store import Store
from computerouter.store.ledger_rows import AccountBalance, EntryKind, LedgerEntry

__all__ = [
    "MICRO",
    "AccountBalance",
    "BudgetPolicy",
    "ComputePrice",
    "ComputeRate",
    "CreditGate",
    "DeadHold",
    "EntryKind",
    "HoldFate",
    "Ledger",
    "LedgerEntry",
    "ModelPrice",
    "PriceTable",
    "ProviderPrices",
    "RepairReport",
    "RunBill",
    "SettleBatcher",
    "UsageLine",
    "dead_holds",
    "default_prices",
    "format_credits",
    "load_prices",
    "open_ledger",
    "parse_credits",
    "prices_path",
    "repair",
    "usage_lines",
]


def open_ledger(
    settings: Settings,
    store: Store,
    *,
    clock: Clock | None = None,
    owner: str | None = None,
    owner_alive: Callable[[str], bool] | None = None,
) -> Ledger:
    """The ledger over ``store``, priced from the settings' price file (or the defaults);
    ``owner``/``owner_alive``: see :class:`Ledger`."""
    return Ledger(
        store=store,
        prices=load_prices(prices_path(settings)),
        clock=clock,
        owner=owner,
        owner_alive=owner_alive,
    )
