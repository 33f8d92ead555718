"""Killing the process in the middle of a settle batch, then repairing: every run billed
exactly once, nothing lost. SQLite and PostgreSQL; before and after the batch commits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_helpers import ended_runs, make_router, make_settings

from computerouter.faults import ENV
from computerouter.ledger import EntryKind, Ledger, default_prices, repair
from computerouter.ledger.ledger import FAILPOINT_AFTER_COMMIT, FAILPOINT_BEFORE_COMMIT
from computerouter.store import open_store
from computerouter.testing import FakeClock

WORKER = Path(__file__).with_name("settle_batch_crash_worker.py")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'computerouter.db'}"
    else:
        yield request.getfixturevalue("pg_url")


def kinds(ledger: Ledger, run_ids: list[str]) -> list[tuple[str, EntryKind]]:
    return sorted(
        (e.run_id, e.kind)
        for e in ledger.ledger_store.entries()
        if e.run_id is not None and e.run_id in run_ids
    )


@pytest.mark.parametrize("point", [FAILPOINT_BEFORE_COMMIT, FAILPOINT_AFTER_COMMIT])
def test_sigkill_mid_batch_then_repair(db_url: str, tmp_path: Path, point: str) -> None:
    store = open_store(db_url)
    clock = FakeClock()
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    router = make_router(store, make_settings(tmp_path, db_url), clock, ledger=None)
    runs: list[str] = []
    for user in ("alice", "bob"):
        ledger.grant(user, 50_000_000)
        for sandbox in ("sb1", "sb2"):
            runs += ended_runs(ledger, router, clock, user, sandbox, 3)
    store.close()

    dead = subprocess.run(
        [sys.executable, str(WORKER), db_url, *runs],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=os.environ | {ENV: point},
    )
    assert dead.returncode == -signal.SIGKILL, dead.stderr
    assert f"settling {len(runs)} runs in one batch" in dead.stdout

    # A restarted control plane: fresh connections.
    store = open_store(db_url)
    restarted = Ledger(store=store, prices=default_prices(), clock=clock)
    both = sorted((r, k) for r in runs for k in (EntryKind.TOKEN, EntryKind.COMPUTE))
    if point == FAILPOINT_BEFORE_COMMIT:  # the batch was never committed: nothing of it shows
        assert kinds(restarted, runs) == []
        assert [e.kind for e in restarted.ledger_store.entries()] == [EntryKind.GRANT] * 2
        assert restarted.account("alice").reserved > 0
    else:  # committed whole, though no caller heard of it
        assert kinds(restarted, runs) == both
    report = repair(restarted, lag_s=0)
    assert sorted(report.runs_billed) == ([] if point == FAILPOINT_AFTER_COMMIT else sorted(runs))
    assert report.errors == []
    assert kinds(restarted, runs) == both  # each run billed exactly once
    before = (restarted.ledger_store.entries(), restarted.ledger_store.accounts())
    for _ in range(2):  # and replays change nothing
        repair(restarted, lag_s=0)
        restarted.settle_many([(r, None) for r in runs])
    assert (restarted.ledger_store.entries(), restarted.ledger_store.accounts()) == before
    for user in ("alice", "bob"):
        assert restarted.account(user).reserved == 0
    derived = restarted.ledger_store.balances_from_entries()
    assert sum(derived.values()) == 0
    assert all(derived[a.account_id] == a.balance for a in restarted.ledger_store.accounts())
    store.close()
