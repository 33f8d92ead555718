"""Property: whatever the prices, the balance, the budget and however many runs overlap, no
run's bill takes a balance below its floor, and no run is billed more than it held.

Runs are opened on a real ComputeRouter (fake provider, fake clock) over SQLite and over
PostgreSQL, overlap in random order, report any token usage (up to absurd amounts at absurd
prices) and run for any time; the balance is checked after every step. A threaded variant has
twenty runs at once, each reporting far more usage than the balance.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_helpers import make_router, make_settings

from computerouter.compute.router import RunLease
from computerouter.domain.values import SessionKey
from computerouter.errors import InsufficientCredit
from computerouter.ledger import BudgetPolicy, Ledger, ModelPrice, PriceTable, default_prices
from computerouter.ledger.prices import ComputePrice, ProviderPrices
from computerouter.store import Store, open_store
from computerouter.testing import FakeClock

pytestmark = pytest.mark.slow

PG_URL = os.environ.get("COMPUTEROUTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('floor') / 'computerouter.db'}"
        return
    try:
        import psycopg

        conn = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:  # any failure to reach PostgreSQL means: skip, and say why
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {str(exc).splitlines()[0]}")
    schema = f"cr_floor_{uuid.uuid4().hex[:8]}"
    conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


@pytest.fixture(scope="module")
def store(db: str) -> Iterator[Store]:
    opened = open_store(db)
    yield opened
    opened.close()


def priced(
    *, input_per_mtok: int, output_per_mtok: int, cpu_hour: int, budget: BudgetPolicy
) -> PriceTable:
    base = default_prices()
    compute = dict(base.compute)
    compute["fake"] = ProviderPrices(default=ComputePrice(cpu_hour=cpu_hour))
    return PriceTable(
        compute=compute,
        models={"*": ModelPrice(input_per_mtok=input_per_mtok, output_per_mtok=output_per_mtok)},
        budget=budget,
    )


_money = st.integers(min_value=0, max_value=10**12)
_run = st.fixed_dictionaries(
    {
        "input_tokens": st.integers(min_value=0, max_value=10**9),
        "output_tokens": st.integers(min_value=0, max_value=10**9),
        "seconds": st.floats(min_value=0, max_value=10**6, allow_nan=False),
        "close_after": st.integers(min_value=0, max_value=5),
    }
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    input_price=_money,
    output_price=_money,
    cpu_hour=st.integers(min_value=0, max_value=10**12),
    balance=st.integers(min_value=1, max_value=10**9),
    floor=st.integers(min_value=-(10**8), max_value=10**6),
    run_reserve=st.integers(min_value=0, max_value=10**8),
    extra=st.integers(min_value=0, max_value=10**9),
    runs=st.lists(_run, min_size=1, max_size=6),
)
def test_no_balance_goes_below_its_floor(
    store: Store,
    tmp_path_factory: pytest.TempPathFactory,
    db: str,
    input_price: int,
    output_price: int,
    cpu_hour: int,
    balance: int,
    floor: int,
    run_reserve: int,
    extra: int,
    runs: list[dict[str, float]],
) -> None:
    clock = FakeClock()
    budget = BudgetPolicy(run_reserve=run_reserve, run_max=run_reserve + extra, floor=floor)
    prices = priced(
        input_per_mtok=input_price, output_per_mtok=output_price, cpu_hour=cpu_hour, budget=budget
    )
    ledger = Ledger(store=store, prices=prices, clock=clock)
    router = make_router(store, make_settings(tmp_path_factory.mktemp("h"), db), clock, ledger)
    user = f"u{uuid.uuid4().hex[:10]}"
    ledger.grant(user, balance)

    def check() -> None:
        account = ledger.account(user)
        assert account.balance >= min(floor, balance)
        assert account.available >= min(floor, balance)

    open_runs: list[tuple[ExitStack, RunLease, dict[str, float]]] = []
    with ExitStack() as everything:
        for i, spec in enumerate(runs):
            stack = ExitStack()
            everything.push(stack.__exit__)
            key = SessionKey(user_id=user, sandbox_id=f"sb{i % 2}")
            try:
                lease = stack.enter_context(router.open_run(key, run_id=f"{user}-{i}"))
            except InsufficientCredit:
                check()
                continue
            ledger.record_usage(
                lease.run_id,
                model="m",
                input_tokens=int(spec["input_tokens"]),
                output_tokens=int(spec["output_tokens"]),
            )
            open_runs.append((stack, lease, spec))
            check()
            # Close the runs due by now, in the order they were opened.
            for entry in [r for r in open_runs if r[2]["close_after"] <= i]:
                clock.advance(entry[2]["seconds"])
                entry[0].close()
                open_runs.remove(entry)
                check()
        for stack, _, spec in open_runs:
            clock.advance(spec["seconds"])
            stack.close()
            check()

    account = ledger.account(user)
    assert account.reserved == 0
    for i in range(len(runs)):
        ceiling = ledger.ceiling(f"{user}-{i}")
        bill = ledger.run_bill(f"{user}-{i}")
        if ceiling is not None:
            assert bill.total <= ceiling
    assert account.balance == ledger.ledger_store.balances_from_entries(account.account_id).get(
        account.account_id, 0
    )


def test_twenty_concurrent_runs_each_reporting_more_than_the_balance(
    store: Store, tmp_path: Path, db: str
) -> None:
    clock = FakeClock()
    budget = BudgetPolicy(run_reserve=100_000, run_max=1_000_000, floor=0)
    prices = priced(input_per_mtok=10**9, output_per_mtok=10**9, cpu_hour=10**9, budget=budget)
    ledger = Ledger(store=store, prices=prices, clock=clock)
    # No cap on runs in flight: twenty ask at once, and only credit may refuse them.
    settings_ = replace(make_settings(tmp_path, db), max_runs_per_user=0)
    routers = [make_router(store, settings_, clock, ledger) for _ in range(20)]
    user = f"u{uuid.uuid4().hex[:10]}"
    ledger.grant(user, 3_500_000)
    everyone = threading.Barrier(20, timeout=120)

    def one(i: int) -> str:
        key = SessionKey(user_id=user, sandbox_id=f"sb{i}")
        try:
            with routers[i].open_run(key, run_id=f"{user}-{i}"):
                ledger.record_usage(
                    f"{user}-{i}", model="m", input_tokens=10**7, output_tokens=10**7
                )
                everyone.wait()
                clock.advance(3600)
                return "ran"
        except InsufficientCredit:
            everyone.wait()
            return "refused"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(one, range(20)))
    # 1 + 1 + 1 + 0.5: three hold the most a run may, a fourth what is left, the rest nothing.
    assert outcomes.count("ran") == 4
    account = ledger.account(user)
    assert account.reserved == 0
    assert account.balance == 0
