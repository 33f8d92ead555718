"""Property: whatever runs, suspends, resumes, archives, destroys and crashes happen, the ledger
attributes exactly the metered running time, balances equal the sum of entries, and no run is
billed twice.

A real ComputeRouter (fake provider, fake clock, SQLite) is driven through random sequences of
operations, with runs overlapping on one session; runs end normally or "crash" before or
between their two writes. A repair pass runs at random points and once at the end.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_helpers import make_router, make_settings

from computerouter.compute.router import ComputeRouter, RunLease
from computerouter.domain.session import RunState
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.errors import ComputeRouterError
from computerouter.ledger import EntryKind, Ledger, default_prices, repair
from computerouter.ledger.prices import RATE_DENOMINATOR
from computerouter.store import Store, open_store
from computerouter.testing import FakeClock

pytestmark = pytest.mark.slow


class CrashyGate:
    """The ledger as credit gate, except that the end-of-run step may 'crash' part way."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.mode = "ok"

    def reserve(self, *, user_id: str, sandbox_id: str, agent_id: str, run_id: str) -> None:
        self.ledger.reserve(
            user_id=user_id, sandbox_id=sandbox_id, agent_id=agent_id, run_id=run_id
        )

    def release(self, run_id: str) -> None:
        self.ledger.release(run_id)

    def record_usage(
        self, run_id: str, *, model: str, input_tokens: int, output_tokens: int
    ) -> None:
        self.ledger.record_usage(
            run_id, model=model, input_tokens=input_tokens, output_tokens=output_tokens
        )

    def settle(self, run_id: str, *, cpu_seconds: float | None = None) -> None:
        if self.mode == "ok":
            self.ledger.settle(run_id, cpu_seconds=cpu_seconds)
        elif self.mode == "between":
            self.ledger.bill_tokens(run_id)  # ... and the process dies before the second write


@dataclass(kw_only=True)
class World:
    store: Store
    clock: FakeClock
    ledger: Ledger
    gate: CrashyGate
    router: ComputeRouter


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("ledger-props")
    cfg = make_settings(Path(home))
    store = open_store(cfg.effective_database_url)
    clock = FakeClock()
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    gate = CrashyGate(ledger)
    router = make_router(store, cfg, clock, ledger=None)
    router.credit_gate = gate
    yield World(store=store, clock=clock, ledger=ledger, gate=gate, router=router)
    store.close()


@dataclass(kw_only=True)
class OpenRun:
    run_id: str
    cm: AbstractContextManager[RunLease]
    lease: RunLease


@dataclass(kw_only=True)
class Example:
    user: str
    open_runs: list[OpenRun] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)

    def key(self, sandbox: int) -> SessionKey:
        return SessionKey(user_id=self.user, sandbox_id=f"sb{sandbox}")


sandbox = st.integers(0, 1)
ops = st.one_of(
    st.tuples(
        st.just("start"), sandbox, st.integers(0, 1), st.integers(0, 5000), st.integers(0, 800)
    ),
    st.tuples(st.just("end"), st.integers(0, 5), st.sampled_from(["ok", "ok", "between", "none"])),
    st.tuples(st.just("abandon"), st.integers(0, 5)),
    st.tuples(st.just("advance"), st.integers(1, 120_000)),
    st.tuples(st.just("suspend"), sandbox),
    st.tuples(st.just("resume"), sandbox),
    st.tuples(st.just("archive"), sandbox),
    st.tuples(st.just("destroy"), sandbox),
    st.tuples(st.just("repair")),
)


def end_run(w: World, ex: Example, index: int, mode: str) -> None:
    if not ex.open_runs:
        return
    run = ex.open_runs.pop(index % len(ex.open_runs))
    w.gate.mode = mode
    try:
        run.cm.__exit__(None, None, None)
    finally:
        w.gate.mode = "ok"


def step(w: World, ex: Example, op: tuple[object, ...]) -> None:
    name = op[0]
    live = w.store.sessions.find_live
    if name == "start":
        _, sb, agent, tokens_in, tokens_out = op
        assert isinstance(sb, int)
        run_id = f"run_{uuid.uuid4().hex}"
        cm = w.router.open_run(ex.key(sb), run_id=run_id, agent_id=f"agent{agent}")
        lease = cm.__enter__()
        w.ledger.record_usage(
            run_id, model="m", input_tokens=int(str(tokens_in)), output_tokens=int(str(tokens_out))
        )
        ex.open_runs.append(OpenRun(run_id=run_id, cm=cm, lease=lease))
        ex.run_ids.append(run_id)
    elif name == "end":
        end_run(w, ex, int(str(op[1])), str(op[2]))
    elif name == "abandon":
        # The run's owner dies: the reconciler ends it as abandoned and no end-of-run step runs.
        if ex.open_runs:
            run = ex.open_runs[int(str(op[1])) % len(ex.open_runs)]
            w.store.runs.end(run.run_id, state=RunState.ABANDONED, now=w.clock.now())
            end_run(w, ex, ex.open_runs.index(run), "none")
    elif name == "advance":
        w.clock.advance(int(str(op[1])) / 1000)
    elif name == "repair":
        repair(w.ledger, lag_s=0)
    else:
        record = live(ex.key(int(str(op[1]))))
        if record is None:
            return
        action = {
            "suspend": w.router.suspend,
            "resume": w.router.resume,
            "archive": w.router.archive,
            "destroy": w.router.destroy,
        }[str(name)]
        # Refused when not allowed now (a run in flight, the wrong state): that is fine too.
        with contextlib.suppress(ComputeRouterError):
            action(record.id)


def running_ms(w: World, session_id: str, now_ms: int) -> int:
    """Running time from the transition log, counted independently of the metering code."""
    total, opened = 0, None
    for t in w.store.sessions.history(session_id):
        at = round(t.at * 1000)
        if t.to_state is SessionState.RUNNING:
            opened = at if opened is None else opened
        elif opened is not None:
            total += at - opened
            opened = None
    if opened is not None:
        total += now_ms - opened
    return total


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(ops, min_size=1, max_size=25))
def test_attribution_balances_and_uniqueness(
    world: World, sequence: list[tuple[object, ...]]
) -> None:
    w = world
    ex = Example(user=f"u{uuid.uuid4().hex[:12]}")
    w.ledger.grant(ex.user, 10**12)
    try:
        for op in sequence:
            step(w, ex, op)
    finally:
        while ex.open_runs:  # even when a step fails: leave no run open behind
            end_run(w, ex, 0, "ok")
    w.clock.advance(1)
    now = w.clock.now()
    report = repair(w.ledger, now=now, lag_s=0, flush_running_after_s=0)
    assert report.errors == []

    entries = [e for e in w.ledger.ledger_store.entries() if e.user_id == ex.user]
    # 1. No (run_id, kind) twice; every run has exactly its two entries.
    per_run = Counter((e.run_id, e.kind) for e in entries if e.run_id is not None)
    assert all(n == 1 for n in per_run.values()), per_run
    for run_id in ex.run_ids:
        assert per_run[(run_id, EntryKind.TOKEN)] == 1
        assert per_run[(run_id, EntryKind.COMPUTE)] == 1

    # 2. Attributed compute (runs' compute + sandbox idle) == metered running time, exactly,
    #    in milliseconds and in micro-credits (less the carried fraction).
    now_ms = round(now * 1000)
    for session in w.store.sessions.list(user_id=ex.user):
        mine = [
            e
            for e in entries
            if e.session_id == session.id and e.kind in (EntryKind.COMPUTE, EntryKind.IDLE)
        ]
        expected = running_ms(w, session.id, now_ms)
        assert sum(e.quantity_ms for e in mine) == expected
        meter = w.ledger.ledger_store.meter(session.id)
        assert meter is not None
        assert meter.running_ms == expected
        rates = {e.rate_per_ms for e in mine}
        assert len(rates) <= 1
        rate = rates.pop() if rates else 0
        assert sum(e.amount for e in mine) * RATE_DENOMINATOR + meter.carry == expected * rate

    # 3. Balances equal the sum of entries, for every account; all balances sum to zero.
    derived = w.ledger.ledger_store.balances_from_entries()
    accounts = w.ledger.ledger_store.accounts()
    assert {a.account_id: a.balance for a in accounts} == {
        a.account_id: derived.get(a.account_id, 0) for a in accounts
    }
    assert sum(a.balance for a in accounts) == 0
    account = w.ledger.account(ex.user)
    assert account.reserved == 0
    charged = sum(e.amount for e in entries if e.kind is not EntryKind.GRANT)
    assert account.balance == 10**12 - charged
