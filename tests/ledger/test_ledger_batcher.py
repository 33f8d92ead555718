"""The settle batcher: concurrent settlers, one writer, each caller its own outcome; a batch
that fails is redone run by run; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ledger_helpers import ended_runs, make_router, make_settings

from computerouter.domain.values import SessionKey
from computerouter.errors import ComputeRouterError, Conflict, NotFound, StoreError
from computerouter.ledger import EntryKind, Ledger, RunBill, SettleBatcher, default_prices
from computerouter.store import open_store
from computerouter.testing import FakeClock

USERS = ("alice", "bob", "carol")
SANDBOXES = ("sb1", "sb2")
RUNS_EACH = 4  # on each sandbox of each user


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'computerouter.db'}"
    else:
        yield request.getfixturevalue("pg_url")


def conserved(ledger: Ledger) -> None:
    """Every account's balance is the sum of its entries, and all balances sum to zero."""
    derived = ledger.ledger_store.balances_from_entries()
    assert sum(derived.values()) == 0
    for account in ledger.ledger_store.accounts():
        if account.account_id.startswith("user:"):
            assert derived.get(account.account_id, 0) == account.balance


def billed_once(ledger: Ledger, run_ids: Sequence[str]) -> None:
    entries = [e for e in ledger.ledger_store.entries() if e.run_id in set(run_ids)]
    kinds = sorted((e.run_id or "", e.kind) for e in entries)
    expected = sorted((r, k) for r in run_ids for k in (EntryKind.TOKEN, EntryKind.COMPUTE))
    assert kinds == expected


def test_concurrent_settlers_each_get_their_own_outcome(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    clock = FakeClock()
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    router = make_router(store, make_settings(tmp_path, db_url), clock, ledger=None)
    runs: list[str] = []
    for user in USERS:
        ledger.grant(user, 50_000_000)
        for sandbox in SANDBOXES:
            runs += ended_runs(ledger, router, clock, user, sandbox, RUNS_EACH)
    # A run still in flight, and one that does not exist, settled among the others.
    ledger.reserve(user_id="alice", sandbox_id="sb3", agent_id="bot", run_id="run_live")
    lease = router.open_run(SessionKey(user_id="alice", sandbox_id="sb3"), run_id="run_live")
    lease.__enter__()
    asked = [*runs[:5], "run_live", *runs[5:11], "run_nope", *runs[11:]]
    start = threading.Barrier(8)

    def settle(batcher: SettleBatcher, run_id: str) -> RunBill | ComputeRouterError:
        try:
            return batcher.settle_run(run_id, cpu_seconds=1.0)
        except ComputeRouterError as exc:
            return exc

    with SettleBatcher(ledger) as batcher, ThreadPoolExecutor(max_workers=8) as pool:

        def one_settler(i: int) -> list[RunBill | ComputeRouterError]:
            start.wait()
            return [settle(batcher, run_id) for run_id in asked[i::8]]

        by_settler = list(pool.map(one_settler, range(8)))
    outcomes = {
        run_id: o
        for i, got in enumerate(by_settler)
        for run_id, o in zip(asked[i::8], got, strict=True)
    }

    assert isinstance(outcomes.pop("run_nope"), NotFound)
    assert isinstance(outcomes.pop("run_live"), Conflict)
    assert all(isinstance(o, RunBill) for o in outcomes.values())
    billed_once(ledger, runs)
    for run_id, bill in outcomes.items():
        assert ledger.run_bill(run_id) == bill
        assert isinstance(bill, RunBill)
        assert bill.compute is not None
        assert bill.compute.quantity_ms == 20_000
        assert bill.compute.cpu_ms == 1_000
    conserved(ledger)
    # Every hold is freed but the live run's, which is untouched.
    assert ledger.account("bob").reserved == 0
    assert ledger.account("alice").reserved == ledger.ceiling("run_live")
    lease.__exit__(None, None, None)
    store.close()


def test_runs_queued_together_settle_in_one_batch(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    clock = FakeClock()
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    router = make_router(store, make_settings(tmp_path, db_url), clock, ledger=None)
    ledger.grant("alice", 50_000_000)
    runs = ended_runs(ledger, router, clock, "alice", "sb", 6)
    commits: list[int] = []
    with SettleBatcher(ledger) as batcher:
        # Each run twice: the replay is billed nothing more, and has the same bill.
        futures = batcher.submit_many([(r, None) for r in runs + runs])
        bills = [f.result() for f in futures]
        commits.append(batcher.batches)
    assert commits == [1]
    assert bills[:6] == bills[6:]
    billed_once(ledger, runs)
    assert ledger.account("alice").reserved == 0
    conserved(ledger)
    store.close()


class FailingBatches(Ledger):
    """The real ledger, except that a batch holding ``poison`` fails as a whole, as a
    database error would (and so does ``poison`` alone)."""

    poison = ""

    def settle_many(
        self, items: Sequence[tuple[str, float | None]]
    ) -> list[RunBill | ComputeRouterError]:
        if any(run_id == self.poison for run_id, _ in items):
            raise StoreError("database error: the batch could not be written")
        return super().settle_many(items)


def test_a_failed_batch_is_redone_run_by_run(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    clock = FakeClock()
    ledger = FailingBatches(store=store, prices=default_prices(), clock=clock)
    router = make_router(store, make_settings(tmp_path, db_url), clock, ledger=None)
    ledger.grant("alice", 50_000_000)
    runs = ended_runs(ledger, router, clock, "alice", "sb", 5)
    ledger.poison = runs[2]
    with SettleBatcher(ledger) as batcher:
        futures = batcher.submit_many([(r, None) for r in runs])
        with pytest.raises(StoreError, match="could not be written"):
            futures[2].result()
        bills = [f.result() for i, f in enumerate(futures) if i != 2]
    good = [r for i, r in enumerate(runs) if i != 2]
    assert [b.run_id for b in bills] == good
    billed_once(ledger, good)
    assert ledger.run_bill(runs[2]) == RunBill(run_id=runs[2], token=None, compute=None)
    # The poisoned run keeps its hold until it can be billed.
    assert ledger.account("alice").reserved == ledger.ceiling(runs[2])
    conserved(ledger)
    store.close()


def test_runs_that_held_nothing_settle_in_a_batch(db_url: str, tmp_path: Path) -> None:
    """No hold, no ledger row and, for dave, no account yet: the batch makes them."""
    store = open_store(db_url)
    clock = FakeClock()
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    router = make_router(store, make_settings(tmp_path, db_url), clock, ledger=None)
    ledger.grant("erin", 1_000_000)
    runs = []
    for user in ("dave", "erin"):
        run_id = f"run_{user}"
        with router.open_run(SessionKey(user_id=user, sandbox_id="sb"), run_id=run_id):
            clock.advance(10)
            ledger.record_usage(run_id, model="m", input_tokens=500, output_tokens=50)
        runs.append(run_id)
    outcomes = ledger.settle_many([(r, 0.25) for r in runs])
    bills = [o for o in outcomes if isinstance(o, RunBill)]
    assert [b.run_id for b in bills] == runs
    billed_once(ledger, runs)
    for bill in bills:
        assert bill.compute is not None
        assert bill.compute.quantity_ms == 10_000
        assert bill.compute.cpu_ms == 250
        assert ledger.run_bill(bill.run_id) == bill
    # Uncapped (nothing was held): dave owes what his run cost.
    assert ledger.account("dave").balance == -bills[0].total
    assert ledger.account("erin").balance == 1_000_000 - bills[1].total
    conserved(ledger)
    store.close()


def test_group_settles_sends_the_routers_settles_through_one_writer(
    db_url: str, tmp_path: Path
) -> None:
    """``Ledger.group_settles`` (what ``serve`` turns on): ``settle`` — the router's end of
    run — goes through the batch writer; each run is billed once; after ``close`` settles go
    straight to the store again."""
    store = open_store(db_url)
    clock = FakeClock()
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    router = make_router(store, make_settings(tmp_path, db_url), clock, ledger=None)
    ledger.grant("alice", 50_000_000)
    runs = ended_runs(ledger, router, clock, "alice", "sb1", 12)
    ledger.group_settles()
    batcher = ledger._batcher
    assert batcher is not None
    start = threading.Barrier(6)

    def settler(i: int) -> None:
        start.wait()
        for run_id in runs[i:10:6]:
            ledger.settle(run_id, cpu_seconds=1.0)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(settler, range(6)))
    ledger.close()
    assert 1 <= batcher.batches <= 10  # every settle went through the writer
    ledger.settle(runs[10], cpu_seconds=1.0)  # closed: straight to the store
    ledger.settle(runs[11], cpu_seconds=1.0)
    assert batcher.batches <= 10
    billed_once(ledger, runs)
    conserved(ledger)
    store.close()
