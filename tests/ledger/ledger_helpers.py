"""Shared builders for the ledger tests (imported by the tests and by the crash worker)."""

from __future__ import annotations

from pathlib import Path

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.values import SessionKey
from computerouter.ledger import BudgetPolicy, Ledger, PriceTable, default_prices
from computerouter.store import Store
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime


def make_settings(home: Path, database_url: str = "") -> Settings:
    return Settings.load(
        env={},
        home=home,
        database_url=database_url,
        default_provider="fake",
        default_runtime="fake",
        wait_timeout_s=30.0,
    )


def budget_prices(
    *, run_reserve: int = 100_000, floor: int = 0, run_max: int | None = None
) -> PriceTable:
    """Default prices with a budget; without ``run_max`` every run holds exactly
    ``run_reserve``."""
    base = default_prices()
    return PriceTable(
        compute=base.compute,
        models=base.models,
        budget=BudgetPolicy(
            run_reserve=run_reserve,
            floor=floor,
            run_max=run_reserve if run_max is None else run_max,
        ),
    )


def make_router(
    store: Store,
    settings: Settings,
    clock: FakeClock | None,
    ledger: Ledger | None,
    provider: FakeProvider | None = None,
) -> ComputeRouter:
    return ComputeRouter(
        store=store,
        providers={"fake": provider or FakeProvider()},
        runtimes={"fake": FakeRuntime()},
        settings=settings,
        clock=clock,
        credit_gate=ledger,
    )


def ended_runs(
    ledger: Ledger, router: ComputeRouter, clock: FakeClock, user: str, sandbox: str, n: int
) -> list[str]:
    """``n`` runs one after the other on the user's sandbox, each with a hold and usage, and a
    second of idle time after each."""
    ids = []
    for i in range(n):
        run_id = f"run_{user}_{sandbox}_{i}"
        ledger.reserve(user_id=user, sandbox_id=sandbox, agent_id="bot", run_id=run_id)
        with router.open_run(SessionKey(user_id=user, sandbox_id=sandbox), run_id=run_id):
            clock.advance(20)
            ledger.record_usage(run_id, model="m", input_tokens=1_000, output_tokens=300)
        clock.advance(1)
        ids.append(run_id)
    return ids
