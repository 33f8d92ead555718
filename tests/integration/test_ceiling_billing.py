"""Acceptance: a run past its ceiling is stopped within a second of it and billed up to it.

Real time and real threads, the real ledger on SQLite; the agent runtime is the scripted fake
(its ``HANG`` turn runs until it is stopped), so the ceiling alone ends the run. The run's two
ledger rows are read back: its compute entry is the ceiling's milliseconds at the session's
rate, and the time between the ceiling and the turn's actual stop is the sandbox's idle time,
not the run's.
"""

from __future__ import annotations

from pathlib import Path

from computerouter.agents.ceiling import CEILING
from computerouter.agents.router import AgentRouter
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.events import RunCompleted, RunFailed
from computerouter.ledger import MICRO, Ledger, default_prices
from computerouter.store import open_store
from computerouter.store.agents import AgentStore
from computerouter.store.ledger_queries import EntryFilter, LedgerQueries
from computerouter.testing import FakeAgentRuntime, FakeProvider

CEILING_S = 1.5


def test_a_run_past_its_ceiling_is_stopped_and_billed_up_to_it(tmp_path: Path) -> None:
    settings = Settings.load(env={}, home=tmp_path, default_provider="local", billing=True)
    store = open_store(settings.effective_database_url)
    try:
        ledger = Ledger(store=store, prices=default_prices())
        ledger.grant("alice", 10 * MICRO)
        compute = ComputeRouter(
            store=store,
            providers={"local": FakeProvider("local")},
            runtimes={"hermes": FakeAgentRuntime()},
            settings=settings,
            credit_gate=ledger,
        )
        agents = AgentRouter(compute=compute, agents=AgentStore(store.engine))
        address = AgentAddress(sandbox_id="sb1", slug="looper")
        agents.create_agent(
            user_id="alice",
            address=address,
            settings=ModelSettings(max_run_s=CEILING_S),
            prompt="You never stop on your own.",
        )
        run = agents.run(user_id="alice", address=address, text="HANG forever")
        events = list(run.events())  # returns only because the ceiling stops the turn

        last = events[-1]
        assert isinstance(last, RunFailed), events
        assert last.code == CEILING
        record = store.runs.get(run.run_id)
        assert record is not None
        assert record.ended_at is not None
        assert record.state == "failed"
        assert record.ended_at == record.started_at + CEILING_S  # not when the turn stopped

        bill = ledger.run_bill(run.run_id)
        assert bill.compute is not None
        assert bill.token is not None
        # Up to the ceiling, not beyond (the run's start and end in whole milliseconds).
        assert abs(bill.compute.quantity_ms - CEILING_S * 1000) <= 1
        rate = ledger.prices.compute_price("local", "").rate(
            compute.get(record.session_id).resources
        )
        due = rate.charge(bill.compute.quantity_ms, carry=0)[0]
        assert due - 1 <= bill.compute.amount <= due + 1  # the session's sub-micro carry
        assert bill.compute.at == record.ended_at
        queries = LedgerQueries(store.engine)
        rows = queries.entries(EntryFilter(run_id=run.run_id))
        assert sorted(e.kind.value for e in rows) == ["compute", "token"]
        assert ledger.account("alice").reserved == 0

        # The session is not harmed: the next run on it completes.
        after = list(agents.run(user_id="alice", address=address, text="quick").events())
        assert isinstance(after[-1], RunCompleted)
    finally:
        for session in store.sessions.list():
            if session.state.value not in ("destroyed", "failed"):
                compute.destroy(session.id)
        store.close()
