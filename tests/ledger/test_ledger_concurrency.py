"""Twenty runs at once against a balance that covers five: five run, fifteen are refused up
front, and the balance never drops below the floor. SQLite (threads) and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from ledger_helpers import budget_prices, make_router, make_settings

from computerouter.domain.values import SessionKey
from computerouter.errors import InsufficientCredit
from computerouter.ledger import EntryKind, Ledger
from computerouter.store import open_store
from computerouter.testing import FakeClock

RESERVE = 1_000_000  # each run holds one credit
RUNS = 20


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'computerouter.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.mark.parametrize("floor", [0, -2_000_000])  # no credit line; a two-credit line
def test_concurrent_runs_cannot_overdraw(db_url: str, tmp_path: Path, floor: int) -> None:
    store = open_store(db_url)
    clock = FakeClock()
    prices = budget_prices(run_reserve=RESERVE, floor=floor)
    ledger = Ledger(store=store, prices=prices, clock=clock)
    # No cap on runs in flight: twenty ask at once, and only credit may refuse them.
    settings = replace(make_settings(tmp_path, db_url), max_runs_per_user=0)
    # One router per caller, as if each were its own control plane sharing the database.
    routers = [make_router(store, settings, clock, ledger) for _ in range(RUNS)]
    ledger.grant("alice", 5 * RESERVE)
    covers = (5 * RESERVE - floor) // RESERVE
    everyone_tried = threading.Barrier(RUNS, timeout=120)
    stop = threading.Event()
    lowest: list[int] = []

    def watch() -> None:
        while not stop.is_set():
            lowest.append(ledger.account("alice").available)

    def one_run(i: int) -> str:
        key = SessionKey(user_id="alice", sandbox_id=f"sb{i}")
        try:
            with routers[i].open_run(key, run_id=f"run_{i:02d}", agent_id="bot"):
                ledger.record_usage(f"run_{i:02d}", model="m", input_tokens=1000, output_tokens=0)
                everyone_tried.wait()  # hold the credit until all twenty have asked
                return "ran"
        except InsufficientCredit:
            everyone_tried.wait()
            return "refused"

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=RUNS) as pool:
            outcomes = list(pool.map(one_run, range(RUNS)))
    finally:
        stop.set()
        watcher.join()

    assert outcomes.count("ran") == covers
    assert outcomes.count("refused") == RUNS - covers
    assert min(lowest) >= floor
    # Refused runs touched nothing: one session per run that ran, none for the others.
    assert len(store.sessions.list(user_id="alice")) == covers
    account = ledger.account("alice")
    assert account.reserved == 0
    assert account.balance >= floor
    ran = {e.run_id for e in ledger.ledger_store.entries() if e.kind is EntryKind.TOKEN}
    assert len(ran) == covers
    charged = sum(e.amount for e in ledger.ledger_store.entries() if e.run_id in ran)
    assert account.balance == 5 * RESERVE - charged
    store.close()
