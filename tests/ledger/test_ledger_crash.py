"""Killing the process between a run's two writes, then repairing, leaves exactly two rows."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_helpers import make_router, make_settings

from computerouter.domain.values import SessionKey
from computerouter.ledger import EntryKind, Ledger, default_prices, repair
from computerouter.store import open_store
from computerouter.testing import FakeClock

WORKER = Path(__file__).with_name("ledger_crash_worker.py")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'computerouter.db'}"
    else:
        yield request.getfixturevalue("pg_url")


def rows(ledger: Ledger, run_id: str) -> list[EntryKind]:
    return sorted(e.kind for e in ledger.ledger_store.entries() if e.run_id == run_id)


def test_sigkill_between_the_two_writes_then_repair(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    clock = FakeClock()
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    router = make_router(store, make_settings(tmp_path, db_url), clock, ledger=None)
    ledger.grant("alice", 3_000_000)
    ledger.reserve(user_id="alice", sandbox_id="sb", agent_id="bot", run_id="run_k")
    with router.open_run(SessionKey(user_id="alice", sandbox_id="sb"), run_id="run_k"):
        clock.advance(61.5)
        ledger.record_usage("run_k", model="m", input_tokens=4_000, output_tokens=900)

    # The control plane that ends the run dies between its two writes.
    dead = subprocess.run(
        [sys.executable, str(WORKER), db_url, "run_k"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dead.returncode == -signal.SIGKILL, dead.stderr
    assert "wrote token entry" in dead.stdout
    assert rows(ledger, "run_k") == [EntryKind.TOKEN]
    token = ledger.run_bill("run_k").token
    assert token is not None
    assert token.amount > 0
    # The token charge is spent out of the hold; the rest stays held until the run is settled.
    assert ledger.account("alice").reserved == ledger.ceiling("run_k") - token.amount
    store.close()

    # A restarted control plane: fresh connections, its repair pass finds what is missing.
    store = open_store(db_url)
    restarted = Ledger(store=store, prices=default_prices(), clock=clock)
    report = repair(restarted, lag_s=0)
    assert report.runs_billed == ["run_k"]
    assert rows(restarted, "run_k") == [EntryKind.COMPUTE, EntryKind.TOKEN]
    bill = restarted.run_bill("run_k")
    assert bill.compute is not None
    assert bill.compute.quantity_ms == 61_500
    before = (restarted.ledger_store.entries(), restarted.ledger_store.accounts())
    for _ in range(3):  # and any number of replays after that change nothing
        repair(restarted, lag_s=0)
        restarted.settle_run("run_k")
    assert (restarted.ledger_store.entries(), restarted.ledger_store.accounts()) == before
    account = restarted.account("alice")
    assert account.reserved == 0
    assert account.balance == 3_000_000 - bill.total
    derived = restarted.ledger_store.balances_from_entries()
    assert all(derived[a.account_id] == a.balance for a in restarted.ledger_store.accounts())
    store.close()
