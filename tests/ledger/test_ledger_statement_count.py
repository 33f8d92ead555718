"""How many SQL statements a settle sends, pinned on both stores, so it cannot silently grow.

A settle reads each table it needs once (runs, sessions, meters, transitions, the session's
runs, run rows, entries, usage, accounts) and writes each once (accounts, entries, run rows,
meters): 13 statements, besides SQLite's ``BEGIN IMMEDIATE``. A batch of runs on several
sessions and users sends the same 13: its reads are IN lists and its writes executemany.
(Before, a settle sent 34, reading its hold five times and its run row four.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from ledger_helpers import ended_runs, make_router, make_settings

from computerouter.ledger import EntryKind, Ledger, RunBill, default_prices
from computerouter.store import Store, open_store
from computerouter.testing import FakeClock

SETTLE_STATEMENTS = 13


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'computerouter.db'}"
    else:
        yield request.getfixturevalue("pg_url")


class Counter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.statements: list[str] = []

    def _seen(self, _c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            self.statements.append(statement)

    def __enter__(self) -> Counter:
        sa.event.listen(self.store.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        sa.event.remove(self.store.engine, "before_cursor_execute", self._seen)


def test_a_settle_sends_a_fixed_number_of_statements(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    clock = FakeClock()
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    router = make_router(store, make_settings(tmp_path, db_url), clock, ledger=None)
    ledger.grant("alice", 5_000_000)
    first, second = ended_runs(ledger, router, clock, "alice", "sb", 2)
    ledger.settle_run(first)  # the session's meter exists from here on

    with Counter(store) as counted:
        bill = ledger.settle_run(second, cpu_seconds=2.0)
    assert len(counted.statements) == SETTLE_STATEMENTS, "\n".join(counted.statements)
    assert bill.token is not None
    assert bill.compute is not None
    assert bill.compute.quantity_ms == 20_000
    assert bill.compute.cpu_ms == 2_000
    # The second run's settle also billed the idle second before it, to the sandbox.
    idle = [e for e in ledger.ledger_store.entries() if e.kind is EntryKind.IDLE]
    assert [e.quantity_ms for e in idle] == [1_000]
    account = ledger.account("alice")
    assert account.reserved == 0
    assert account.balance == 5_000_000 - sum(e.amount for e in ledger.ledger_store.entries()[1:])
    store.close()


def test_a_batch_sends_as_many_statements_as_one_settle(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    clock = FakeClock()
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    router = make_router(store, make_settings(tmp_path, db_url), clock, ledger=None)
    runs: list[str] = []
    for user in ("alice", "bob"):
        ledger.grant(user, 50_000_000)
        for sandbox in ("sb1", "sb2"):
            done, *rest = ended_runs(ledger, router, clock, user, sandbox, 4)
            ledger.settle_run(done)
            runs += rest

    with Counter(store) as counted:
        outcomes = ledger.settle_many([(run_id, None) for run_id in runs])
    assert len(counted.statements) == SETTLE_STATEMENTS, "\n".join(counted.statements)
    bills = [o for o in outcomes if isinstance(o, RunBill)]
    assert [b.run_id for b in bills] == runs
    # Each run billed once, with real ids, as a later read shows them.
    assert all(ledger.run_bill(b.run_id) == b for b in bills)
    for user in ("alice", "bob"):
        account = ledger.account(user)
        assert account.reserved == 0
        derived = ledger.ledger_store.balances_from_entries(f"user:{user}")
        assert derived[f"user:{user}"] == account.balance
    store.close()
