"""End of run: two entries joined on run_id, priced from the table, written once."""

from __future__ import annotations

import pytest
from ledger_helpers import make_router

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.session import RunState
from computerouter.domain.values import Resources, SessionKey
from computerouter.errors import Conflict, InsufficientCredit, ProviderError
from computerouter.ledger import EntryKind, Ledger, default_prices, repair
from computerouter.ledger.prices import RATE_DENOMINATOR
from computerouter.store import Store
from computerouter.testing import FakeClock, FakeProvider

KEY = SessionKey(user_id="alice", sandbox_id="sb1")


def snapshot(ledger: Ledger) -> tuple[object, ...]:
    store = ledger.ledger_store
    return (tuple(store.entries()), tuple(store.accounts()))


def test_a_run_ends_with_exactly_two_rows_priced_from_the_table(
    router: ComputeRouter, ledger: Ledger, clock: FakeClock, provider: FakeProvider
) -> None:
    ledger.grant("alice", 10_000_000)
    resources = Resources(cpus=2, memory_mb=4096)
    with router.open_run(KEY, run_id="run_a", agent_id="support", resources=resources) as lease:
        clock.advance(90)
        ledger.record_usage("run_a", model="hermes", input_tokens=12_000, output_tokens=3_000)
        assert ledger.account("alice").reserved == ledger.prices.budget.hold_for(10_000_000)
        session = lease.session
    bill = ledger.run_bill("run_a")
    assert bill.token is not None
    assert bill.compute is not None
    price = ledger.prices.compute_price("fake")
    per_hour = price.cpu_hour * 2 + price.memory_gib_hour * 4
    assert bill.compute.quantity_ms == 90_000
    assert bill.compute.amount == per_hour * 90 // 3600
    model = ledger.prices.model_price("hermes")
    assert (
        bill.token.amount
        == (12_000 * model.input_per_mtok + 3_000 * model.output_per_mtok) // 10**6
    )
    for entry in (bill.token, bill.compute):
        assert (entry.user_id, entry.sandbox_id, entry.agent_id, entry.run_id) == (
            "alice",
            "sb1",
            "support",
            "run_a",
        )
        assert entry.session_id == session.id
        assert entry.debit_account == "user:alice"
    assert (bill.token.input_tokens, bill.token.output_tokens) == (12_000, 3_000)
    run_entries = [e for e in ledger.ledger_store.entries() if e.run_id == "run_a"]
    assert sorted(e.kind for e in run_entries) == [EntryKind.COMPUTE, EntryKind.TOKEN]
    account = ledger.account("alice")
    assert account.reserved == 0
    assert account.balance == 10_000_000 - bill.total


def test_replaying_the_end_of_run_n_times_changes_nothing(
    router: ComputeRouter, ledger: Ledger, clock: FakeClock
) -> None:
    ledger.grant("alice", 5_000_000, key="welcome")
    with router.open_run(KEY, run_id="run_r", agent_id="a"):
        clock.advance(42.5)
        ledger.record_usage("run_r", model="m", input_tokens=100, output_tokens=7)
    before = snapshot(ledger)
    for _ in range(5):
        ledger.settle_run("run_r", cpu_seconds=1.0)
        ledger.settle("run_r")
        ledger.bill_tokens("run_r")
        ledger.bill_compute("run_r")
        repair(ledger, lag_s=0, flush_running_after_s=10**9)
        ledger.grant("alice", 5_000_000, key="welcome")  # a replayed grant, too
    assert snapshot(ledger) == before


def test_usage_is_final_once_billed(router: ComputeRouter, ledger: Ledger) -> None:
    ledger.grant("alice", 1_000_000)
    with router.open_run(KEY, run_id="run_u"):
        ledger.record_usage("run_u", model="m", input_tokens=5, output_tokens=5)
        ledger.record_usage("run_u", model="m", input_tokens=50, output_tokens=10)  # replaces
    bill = ledger.run_bill("run_u")
    assert bill.token is not None
    assert (bill.token.input_tokens, bill.token.output_tokens) == (50, 10)
    with pytest.raises(Conflict):
        ledger.record_usage("run_u", model="m", input_tokens=999, output_tokens=999)


def test_a_run_is_refused_up_front_and_no_session_is_touched(
    router: ComputeRouter, ledger: Ledger, store: Store, provider: FakeProvider
) -> None:
    with pytest.raises(InsufficientCredit) as refused, router.open_run(KEY, run_id="run_broke"):
        pytest.fail("the run body must not execute")
    assert refused.value.code == "insufficient_credit"
    assert refused.value.available == 0
    assert refused.value.required == ledger.prices.budget.run_reserve
    assert store.sessions.list() == []
    assert provider.calls == []
    assert store.runs.get("run_broke") is None
    assert ledger.ledger_store.entries() == []


def test_a_hold_is_given_back_when_no_session_can_be_had(
    router: ComputeRouter, ledger: Ledger, provider: FakeProvider
) -> None:
    ledger.grant("alice", 1_000_000)
    provider.fail_next["create"] = ProviderError("no capacity", provider="fake")
    with pytest.raises(Exception, match="no capacity"), router.open_run(KEY, run_id="run_fail"):
        pass
    assert ledger.account("alice").reserved == 0
    assert ledger.account("alice").balance == 1_000_000


def test_idle_tail_until_suspend_goes_to_the_sandbox(
    router: ComputeRouter, ledger: Ledger, clock: FakeClock, store: Store
) -> None:
    ledger.grant("alice", 10_000_000)
    with router.open_run(KEY, run_id="run_1", agent_id="a") as lease:
        clock.advance(10)
    clock.advance(900)  # idle, still running
    router.suspend(lease.session.id)
    clock.advance(3600)  # suspended: not running time
    report = repair(ledger, lag_s=0)
    assert report.sessions_metered == [lease.session.id]
    idle = [e for e in ledger.ledger_store.entries() if e.kind is EntryKind.IDLE]
    assert [(e.quantity_ms, e.run_id, e.agent_id, e.sandbox_id) for e in idle] == [
        (900_000, None, "", "sb1")
    ]
    meter = ledger.ledger_store.meter(lease.session.id)
    assert meter is not None
    assert meter.running_ms == 910_000
    assert meter.idle_ms == 900_000
    compute = ledger.run_bill("run_1").compute
    assert compute is not None
    # The session's money adds up exactly: entries + carried fraction == ms * rate.
    assert (compute.amount + idle[0].amount) * RATE_DENOMINATOR + meter.carry == (
        meter.running_ms * compute.rate_per_ms
    )


def test_a_suspend_just_short_of_a_whole_millisecond_still_meters_its_last_millisecond(
    store: Store, settings: Settings
) -> None:
    # Metering rounds timestamps to the nearest millisecond, so the repair pass must pick the
    # session by the same rounding: here the suspend reads 0.0002 ms short of the millisecond
    # after the meter's cursor, and that millisecond of running time is still the sandbox's.
    clock = FakeClock(start=1_750_000_000.001)
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    router = make_router(store, settings, clock, ledger)
    ledger.grant("alice", 10_000_000)
    with router.open_run(KEY, run_id="run_1", agent_id="a") as lease:
        pass  # billed at its end: the meter's cursor is now the run's end
    clock.advance(0.001)
    assert clock.now() * 1000 < round(clock.now() * 1000)  # the float falls just short
    router.suspend(lease.session.id)
    report = repair(ledger, lag_s=0)
    assert report.sessions_metered == [lease.session.id]
    idle = [e for e in ledger.ledger_store.entries() if e.kind is EntryKind.IDLE]
    assert [(e.quantity_ms, e.sandbox_id) for e in idle] == [(1, "sb1")]
    meter = ledger.ledger_store.meter(lease.session.id)
    assert meter is not None
    assert meter.running_ms == 1


def test_cpu_seconds_are_recorded_not_billed(
    router: ComputeRouter, ledger: Ledger, clock: FakeClock, provider: FakeProvider
) -> None:
    ledger.grant("alice", 1_000_000)
    with router.open_run(KEY, run_id="run_cpu") as lease:
        clock.advance(5)
        assert lease.session.instance_id is not None
        provider._instances[lease.session.instance_id].cpu_seconds += 1.25
    compute = ledger.run_bill("run_cpu").compute
    assert compute is not None
    assert compute.cpu_ms == 1250
    assert compute.quantity_ms == 5000


def test_an_abandoned_run_is_billed_by_the_repair_pass(
    store: Store, ledger: Ledger, clock: FakeClock, settings: Settings
) -> None:
    plain = make_router(store, settings, clock, ledger=None)  # the owner that will "die"
    ledger.grant("alice", 1_000_000)
    ledger.reserve(user_id="alice", sandbox_id="sb1", agent_id="a", run_id="run_dead")
    gen = plain.open_run(KEY, run_id="run_dead", agent_id="a")
    gen.__enter__()
    clock.advance(30)
    # The owner dies; the reconciler ends the run as abandoned. No end-of-run step ever ran.
    assert store.runs.end("run_dead", state=RunState.ABANDONED, now=clock.now())
    assert ledger.run_bill("run_dead").compute is None
    report = repair(ledger, lag_s=0)
    assert report.runs_billed == ["run_dead"]
    bill = ledger.run_bill("run_dead")
    assert bill.compute is not None
    assert bill.compute.quantity_ms == 30_000
    assert bill.token is not None
    assert bill.token.amount == 0
    assert ledger.account("alice").reserved == 0
    gen.__exit__(None, None, None)
