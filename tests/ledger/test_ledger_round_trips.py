"""A settle is one transaction, and its entries stay exactly what they were, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from ledger_helpers import make_router, make_settings

from computerouter.domain.values import SessionKey
from computerouter.ledger import EntryKind, Ledger, default_prices
from computerouter.store import open_store
from computerouter.testing import FakeClock


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'computerouter.db'}"
    else:
        yield request.getfixturevalue("pg_url")


def test_a_settle_commits_once_and_writes_both_entries(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    clock = FakeClock()
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    router = make_router(store, make_settings(tmp_path, db_url), clock, ledger=None)
    ledger.grant("alice", 3_000_000)
    ledger.reserve(user_id="alice", sandbox_id="sb", agent_id="bot", run_id="run_1")
    with router.open_run(SessionKey(user_id="alice", sandbox_id="sb"), run_id="run_1"):
        clock.advance(30)
        ledger.record_usage("run_1", model="m", input_tokens=2_000, output_tokens=500)

    commits: list[int] = []

    def count(_conn: Any) -> None:
        commits.append(1)

    sa.event.listen(store.engine, "commit", count)
    try:
        bill = ledger.settle_run("run_1", cpu_seconds=1.5)
    finally:
        sa.event.remove(store.engine, "commit", count)
    assert len(commits) == 1
    assert bill.token is not None
    assert bill.compute is not None
    assert bill.compute.quantity_ms == 30_000
    assert bill.compute.cpu_ms == 1_500
    kinds = sorted(e.kind for e in ledger.ledger_store.entries() if e.run_id == "run_1")
    assert kinds == [EntryKind.COMPUTE, EntryKind.TOKEN]
    account = ledger.account("alice")
    assert account.reserved == 0
    assert account.balance == 3_000_000 - bill.total
    # Replayed, it writes nothing more.
    before = (ledger.ledger_store.entries(), ledger.ledger_store.accounts())
    assert ledger.settle_run("run_1") == bill
    assert (ledger.ledger_store.entries(), ledger.ledger_store.accounts()) == before
    store.close()
