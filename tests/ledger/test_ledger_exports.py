"""The ledger's public surface is pinned: a change to it is a decision, not an accident."""

from __future__ import annotations

from computerouter import ledger
from computerouter.compute.router import ComputeRouter
from computerouter.errors import ComputeRouterError, InsufficientCredit
from computerouter.ledger import CreditGate, Ledger


def test_public_names() -> None:
    assert set(ledger.__all__) == {
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
    }
    for name in ledger.__all__:
        assert getattr(ledger, name) is not None


def test_the_ledger_is_a_credit_gate() -> None:
    wanted = {"reserve", "release", "settle", "record_usage"}
    assert wanted <= {n for n in dir(CreditGate) if not n.startswith("_")}
    assert all(callable(getattr(Ledger, name)) for name in wanted)
    assert "credit_gate" in ComputeRouter.__init__.__code__.co_varnames


def test_insufficient_credit_is_in_the_tree_with_a_stable_code() -> None:
    error = InsufficientCredit(user_id="u", available=50_000, required=100_000)
    assert isinstance(error, ComputeRouterError)
    assert error.code == "insufficient_credit"
    assert str(error).startswith("user u has 0.05 credits available; a run needs 0.1")
    from computerouter import errors

    assert "InsufficientCredit" in (errors.__doc__ or "")
