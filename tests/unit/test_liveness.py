"""Liveness across replicas: runs heartbeat and leases are renewed while their owner works; a
dead replica's runs are ended after ``run_stale_after_s`` (billing stops at their last
heartbeat) and its sessions suspend on schedule; waits use the injected clock; per-key locks
do not pile up; fail-over stops at errors no other provider would get past."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace

import pytest

from computerouter.compute.reaper import reap_once
from computerouter.compute.reconciler import reconcile
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.session import RunState
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.errors import (
    InputError,
    IsolationUnavailable,
    ProviderUnavailable,
    SessionUnavailable,
)
from computerouter.ledger import MICRO, Ledger, repair
from computerouter.ledger.prices import default_prices
from computerouter.providers.base import InstanceSpec
from computerouter.store import Store
from computerouter.store.ledger_queries import EntryFilter
from computerouter.store.ledger_rows import EntryKind
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime, session_record

KEY = SessionKey(user_id="alice", sandbox_id="sb1")
S = SessionState


def replica(
    store: Store,
    settings: Settings,
    clock: FakeClock,
    provider: FakeProvider,
    owner: str,
    **overrides: float,
) -> ComputeRouter:
    return ComputeRouter(
        store=store,
        providers={"fake": provider},
        runtimes={"fake": FakeRuntime()},
        settings=replace(settings, **overrides),
        clock=clock,
        owner=owner,
    )


def test_a_dead_replicas_run_ends_at_its_last_heartbeat_and_its_session_suspends(
    store: Store, settings: Settings, clock: FakeClock, provider: FakeProvider
) -> None:
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    ledger.grant("alice", 100 * MICRO)
    # Replica A never beats by itself here: it beats once by hand, then dies (kill -9).
    a = replica(store, settings, clock, provider, "replica-a:1:1", run_heartbeat_s=1e9)
    a.credit_gate = ledger
    b = replica(store, settings, clock, provider, "replica-b:2:2")
    run_id = f"run_{uuid.uuid4().hex[:12]}"
    held = a.open_run(KEY, run_id=run_id)
    lease = held.__enter__()  # the run is in flight on A, and never closes
    started = clock.now()
    clock.advance(30)
    a.keepalive.beat()  # A's last sign of life
    crash = clock.now()

    clock.advance(settings.run_stale_after_s - 1)
    assert reconcile(b).runs_abandoned == [], "not yet stale: A might be alive"
    clock.advance(2)
    assert reconcile(b).runs_abandoned == [run_id]
    run = store.runs.get(run_id)
    assert run is not None
    assert run.state == RunState.ABANDONED
    assert run.ended_at == crash

    clock.advance(settings.idle_suspend_s)
    assert reap_once(b).suspended == [lease.session.id]
    assert b.get(lease.session.id).state is S.SUSPENDED

    repair(ledger, lag_s=0)
    [compute] = ledger.ledger_store.entries(EntryFilter(run_id=run_id, kinds=[EntryKind.COMPUTE]))
    assert compute.quantity_ms == round((crash - started) * 1000), "billed up to the crash"
    assert ledger.account("alice").reserved == 0
    charged = ledger.account("alice").balance
    clock.advance(3600)
    repair(ledger, lag_s=0)
    assert ledger.account("alice").balance == charged, "nothing accrues once suspended"


def test_a_live_replica_keeps_its_run_alive(
    store: Store, settings: Settings, clock: FakeClock, provider: FakeProvider
) -> None:
    a = replica(store, settings, clock, provider, "replica-a:1:1", run_heartbeat_s=0.02)
    b = replica(store, settings, clock, provider, "replica-b:2:2")
    with a.open_run(KEY, run_id="run_alive") as lease:
        for _ in range(5):
            clock.advance(settings.run_stale_after_s / 2)
            time.sleep(0.1)  # the keepalive thread beats meanwhile
            assert reconcile(b).runs_abandoned == []
        assert store.runs.get(lease.run_id).state == RunState.RUNNING  # type: ignore[union-attr]


def test_a_long_provision_keeps_its_lease(
    store: Store, settings: Settings, clock: FakeClock, provider: FakeProvider
) -> None:
    a = replica(store, settings, clock, provider, "replica-a:1:1", run_heartbeat_s=0.02)
    b = replica(store, settings, clock, provider, "replica-b:2:2")
    seen: list[str | None] = []

    def slow_create(spec: InstanceSpec) -> None:
        for _ in range(4):  # four leases' worth of provisioning
            clock.advance(settings.lease_s)
            time.sleep(0.1)
            record = store.sessions.get(spec.idempotency_key)
            assert record is not None
            report = reconcile(b)
            seen.append(record.owner)
            assert report.converged == report.failed == [], "B must not take it over"

    provider.before_create = slow_create
    made = a.ensure_session(KEY)
    assert made.state is S.RUNNING
    assert seen == ["replica-a:1:1"] * 4
    assert provider.count() == 1


class InstantClock(FakeClock):
    """Waiting moves this clock without real time passing."""

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


def test_waiting_for_another_callers_operation_uses_the_injected_clock(
    store: Store, settings: Settings, provider: FakeProvider
) -> None:
    clock = InstantClock()
    router = replica(store, settings, clock, provider, "replica-a:1:1")
    now = clock.now()
    busy = session_record(
        at=now,
        user_id=KEY.user_id,
        sandbox_id=KEY.sandbox_id,
        owner="replica-b:2:2",
        lease_expires_at=now + 10 * settings.wait_timeout_s,
    )
    assert store.sessions.insert_provisioning(busy)
    started = time.monotonic()
    with pytest.raises(SessionUnavailable, match="timed out"):
        router.ensure_session(KEY)
    assert time.monotonic() - started < 5, "the wait ran on the injected clock"
    assert clock.now() - now >= settings.wait_timeout_s


def test_per_key_locks_do_not_pile_up(router: ComputeRouter) -> None:
    keys = [SessionKey(user_id="u", sandbox_id=f"s{i}") for i in range(50)]
    threads = [threading.Thread(target=router.ensure_session, args=(k,)) for k in keys * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(router.store.sessions.list()) == 50
    assert router._key_locks == {}


@pytest.fixture
def pair(
    store: Store, settings: Settings, clock: FakeClock
) -> tuple[ComputeRouter, FakeProvider, FakeProvider]:
    primary, secondary = FakeProvider("primary"), FakeProvider("secondary")
    router = ComputeRouter(
        store=store,
        providers={"primary": primary, "secondary": secondary},
        runtimes={"fake": FakeRuntime()},
        settings=settings,
        clock=clock,
    )
    return router, primary, secondary


@pytest.mark.parametrize(
    "error",
    [
        IsolationUnavailable("no bubblewrap", provider="primary"),
        ProviderUnavailable("bad resources for this provider", provider="primary"),
        InputError("labels too long"),
    ],
)
def test_a_non_retryable_error_does_not_fail_over_nor_cool_the_provider(
    pair: tuple[ComputeRouter, FakeProvider, FakeProvider], error: Exception
) -> None:
    router, primary, secondary = pair
    primary.fail_next["create"] = error  # type: ignore[assignment]
    with pytest.raises(SessionUnavailable) as raised:
        router.ensure_session(KEY, provider=["primary", "secondary"])
    assert raised.value.retryable is False
    assert [a.provider for a in raised.value.failover_history] == ["primary"]
    assert secondary.calls == [], "another provider would not help"
    assert router.health.cooling(now=router.clock.now()) == {}


def test_a_retryable_error_fails_over_and_cools_the_provider(
    pair: tuple[ComputeRouter, FakeProvider, FakeProvider],
) -> None:
    router, primary, _secondary = pair
    primary.fail_next["create"] = ProviderUnavailable("503", provider="primary", retryable=True)
    made = router.ensure_session(KEY, provider=["primary", "secondary"])
    assert made.provider == "secondary"
    assert "primary" in router.health.cooling(now=router.clock.now())
