from __future__ import annotations

from computerouter.compute.reconciler import reconcile
from computerouter.compute.router import ComputeRouter
from computerouter.domain.session import SessionRecord
from computerouter.domain.states import SessionState
from computerouter.domain.values import Labels, Resources, SessionKey
from computerouter.providers.base import InstanceSpec
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime, session_record

KEY = SessionKey(user_id="alice", sandbox_id="sb1")
S = SessionState
DEAD_OWNER = "elsewhere:1:1"


def abandoned_provisioning(router: ComputeRouter, clock: FakeClock) -> SessionRecord:
    """A row left in provisioning by a control plane that died (its lease ran out)."""
    now = clock.now()
    record = session_record(
        at=now,
        user_id=KEY.user_id,
        sandbox_id=KEY.sandbox_id,
        owner=DEAD_OWNER,
        lease_expires_at=now + 10,
    )
    assert router.store.sessions.insert_provisioning(record)
    clock.advance(11)
    return record


def spec_for(record: SessionRecord) -> InstanceSpec:
    return InstanceSpec(
        idempotency_key=record.id,
        labels=record.labels,
        resources=record.resources,
        launch=FakeRuntime().launch_spec(session_id=record.id),
    )


def test_healthy_instance_of_abandoned_provisioning_is_adopted(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    record = abandoned_provisioning(router, clock)
    instance = provider.create(spec_for(record))
    report = reconcile(router)
    assert report.adopted == [record.id]
    adopted = router.get(record.id)
    assert adopted.state is S.RUNNING
    assert adopted.instance_id == instance.instance_id
    assert adopted.owner is None
    assert provider.count() == 1


def test_unhealthy_instance_of_abandoned_provisioning_is_destroyed(
    router: ComputeRouter, provider: FakeProvider, runtime: FakeRuntime, clock: FakeClock
) -> None:
    record = abandoned_provisioning(router, clock)
    provider.create(spec_for(record))
    runtime.healthy = False
    reconcile(router)
    assert router.get(record.id).state is S.FAILED
    assert provider.count() == 0


def test_abandoned_provisioning_without_instance_fails_and_frees_key(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    record = abandoned_provisioning(router, clock)
    reconcile(router)
    assert router.get(record.id).state is S.FAILED
    assert router.ensure_session(KEY).id != record.id


def test_live_owner_is_left_alone(router: ComputeRouter, clock: FakeClock) -> None:
    now = clock.now()
    record = session_record(at=now, owner="other-host:5:5", lease_expires_at=now + 100)
    router.store.sessions.insert_provisioning(record)
    reconcile(router)
    assert router.get(record.id).state is S.PROVISIONING


def test_ensure_session_takes_over_an_abandoned_key(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    record = abandoned_provisioning(router, clock)
    provider.create(spec_for(record))
    session = router.ensure_session(KEY)
    assert session.id == record.id
    assert session.state is S.RUNNING


def test_orphan_instance_is_destroyed(router: ComputeRouter, provider: FakeProvider) -> None:
    labels = Labels(session_id="ses_unknown", user_id="x", sandbox_id="y")
    provider.create(
        InstanceSpec(
            idempotency_key="ses_unknown",
            labels=labels,
            resources=Resources(),
            launch=FakeRuntime().launch_spec(session_id="ses_unknown"),
        )
    )
    kept = router.ensure_session(KEY)
    report = reconcile(router)
    assert report.orphans_destroyed == ["fk-ses_unknown"]
    assert provider.count() == 1
    assert router.get(kept.id).state is S.RUNNING


def test_vanished_instance_marks_session_failed(
    router: ComputeRouter, provider: FakeProvider
) -> None:
    session = router.ensure_session(KEY)
    assert session.instance_id is not None
    provider.vanish(session.instance_id)
    report = reconcile(router)
    assert report.failed == [session.id]
    failed = router.get(session.id)
    assert failed.state is S.FAILED
    assert "vanished" in (failed.error or "")


def test_runs_of_a_dead_owner_are_abandoned(router: ComputeRouter, clock: FakeClock) -> None:
    from computerouter.domain.session import RunRecord

    session = router.ensure_session(KEY)
    router.store.runs.begin(
        RunRecord(
            run_id="run_dead",
            session_id=session.id,
            user_id=KEY.user_id,
            sandbox_id=KEY.sandbox_id,
            agent_id="",
            state="running",
            owner=f"{__import__('socket').gethostname()}:999999999:1",
            started_at=clock.now(),
            heartbeat_at=clock.now(),
        )
    )
    report = reconcile(router)
    assert report.runs_abandoned == ["run_dead"]
    assert router.store.runs.in_flight(session.id) == []
