from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.errors import (
    Conflict,
    InputError,
    InvalidTransition,
    ProviderError,
    SessionNotFound,
    SessionUnavailable,
)
from computerouter.store import Store
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime

KEY = SessionKey(user_id="alice", sandbox_id="sb1")
S = SessionState


def test_ensure_creates_once_then_reuses(router: ComputeRouter, provider: FakeProvider) -> None:
    first = router.ensure_session(KEY)
    second = router.ensure_session(KEY)
    assert first.state is S.RUNNING
    assert second.id == first.id
    assert first.instance_id == f"fk-{first.id}"
    assert [c for c in provider.calls if c[0] == "create"] == [("create", first.id)]


def test_fifty_concurrent_calls_yield_one_session(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    provider = FakeProvider(create_delay_s=0.05)
    runtime = FakeRuntime()
    routers = [
        ComputeRouter(
            store=store,
            providers={"fake": provider},
            runtimes={"fake": runtime},
            settings=settings,
            clock=clock,
            owner=f"host:{1000 + i}:router-{i}",
        )
        for i in range(50)
    ]
    barrier = threading.Barrier(50)

    def call(i: int) -> str:
        barrier.wait()
        return routers[i].ensure_session(KEY).id

    with ThreadPoolExecutor(max_workers=50) as pool:
        ids = list(pool.map(call, range(50)))
    assert len(set(ids)) == 1
    assert provider.count() == 1
    assert len(store.sessions.list(user_id="alice")) == 1


def test_suspend_then_ensure_thaws(router: ComputeRouter, provider: FakeProvider) -> None:
    session = router.ensure_session(KEY)
    assert router.suspend(session.id).state is S.SUSPENDED
    resumed = router.ensure_session(KEY)
    assert resumed.id == session.id
    assert resumed.state is S.RUNNING
    assert ("resume", session.instance_id) in provider.calls


def test_archive_then_ensure_restores(router: ComputeRouter, provider: FakeProvider) -> None:
    session = router.ensure_session(KEY)
    archived = router.archive(session.id)
    assert archived.state is S.ARCHIVED
    assert archived.endpoint is None
    restored = router.ensure_session(KEY)
    assert restored.id == session.id
    assert restored.state is S.RUNNING
    assert restored.endpoint is not None
    assert ("restore", session.instance_id) in provider.calls


def test_history_records_every_transition(router: ComputeRouter) -> None:
    session = router.ensure_session(KEY)
    router.suspend(session.id)
    router.resume(session.id)
    router.destroy(session.id)
    path = [(t.from_state, t.to_state) for t in router.store.sessions.history(session.id)]
    assert path == [
        (None, S.PROVISIONING),
        (S.PROVISIONING, S.RUNNING),
        (S.RUNNING, S.SUSPENDING),
        (S.SUSPENDING, S.SUSPENDED),
        (S.SUSPENDED, S.RESUMING),
        (S.RESUMING, S.RUNNING),
        (S.RUNNING, S.DESTROYING),
        (S.DESTROYING, S.DESTROYED),
    ]


def test_destroyed_session_cannot_resume_and_store_is_unchanged(
    router: ComputeRouter, provider: FakeProvider
) -> None:
    session = router.ensure_session(KEY)
    router.destroy(session.id)
    assert provider.count() == 0
    before = router.get(session.id)
    with pytest.raises(InvalidTransition):
        router.resume(session.id)
    assert router.get(session.id) == before


def test_destroy_frees_the_key_for_a_new_session(router: ComputeRouter) -> None:
    first = router.ensure_session(KEY)
    router.destroy(first.id)
    second = router.ensure_session(KEY)
    assert second.id != first.id
    assert second.state is S.RUNNING


def test_unknown_session_id(router: ComputeRouter) -> None:
    with pytest.raises(SessionNotFound):
        router.suspend("ses_nope")


def test_unknown_provider_is_input_error_and_nothing_is_written(router: ComputeRouter) -> None:
    with pytest.raises(InputError, match="unknown provider 'daytona'"):
        router.ensure_session(KEY, provider="daytona")
    assert router.store.sessions.list() == []


def test_create_failure_marks_failed_and_frees_the_key(
    router: ComputeRouter, provider: FakeProvider
) -> None:
    provider.fail_next["create"] = ProviderError("quota exceeded", provider="fake")
    with pytest.raises(SessionUnavailable) as info:
        router.ensure_session(KEY)
    assert info.value.failover_history[0].provider == "fake"
    assert "quota exceeded" in info.value.failover_history[0].message
    [failed] = router.store.sessions.list()
    assert failed.state is S.FAILED
    assert "quota exceeded" in (failed.error or "")
    retry = router.ensure_session(KEY)
    assert retry.state is S.RUNNING


def test_failed_suspend_rolls_back_to_running(
    router: ComputeRouter, provider: FakeProvider
) -> None:
    session = router.ensure_session(KEY)
    provider.fail_next["suspend"] = ProviderError("freezer busy", provider="fake")
    with pytest.raises(ProviderError):
        router.suspend(session.id)
    assert router.get(session.id).state is S.RUNNING


def test_suspend_refused_while_a_run_is_in_flight(router: ComputeRouter) -> None:
    with router.open_run(KEY, run_id="run_1", agent_id="support") as lease:
        session = lease.session
        with pytest.raises(Conflict, match="run in flight"):
            router.suspend(session.id)
        assert router.get(session.id).state is S.RUNNING
    assert router.suspend(session.id).state is S.SUSPENDED


def test_open_run_records_labels_and_restarts_idle_clock(
    router: ComputeRouter, clock: FakeClock
) -> None:
    with router.open_run(KEY, run_id="run_1", agent_id="support") as lease:
        clock.advance(100)
    session = lease.session
    after = router.get(session.id)
    assert after.agent_id == "support"
    assert after.run_id == "run_1"
    assert after.last_active_at == clock.now()
    run = router.store.runs.get("run_1")
    assert run is not None
    assert run.state == "completed"


def test_open_run_marks_failure(router: ComputeRouter) -> None:
    with pytest.raises(RuntimeError), router.open_run(KEY, run_id="run_2"):
        raise RuntimeError("boom")
    run = router.store.runs.get("run_2")
    assert run is not None
    assert run.state == "failed"


def test_resumed_session_carries_the_latest_run_labels(router: ComputeRouter) -> None:
    session = router.ensure_session(KEY, agent_id="a1", run_id="run_a")
    router.suspend(session.id)
    router.ensure_session(KEY, agent_id="a2", run_id="run_b")
    labels = router.get(session.id).labels
    assert (labels.agent_id, labels.run_id) == ("a2", "run_b")
