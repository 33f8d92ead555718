"""Interrupted data-moving operations are finished or rolled back, never resolved by deletion.

Each test leaves a session the way a control plane that died mid-operation would (its row in a
transitional state with an expired lease, the instance in whatever state the crash left it),
then lets another control plane find it: the reconciler, or the next ``ensure_session``.
"""

from __future__ import annotations

import pytest

from computerouter.compute.reconciler import reconcile
from computerouter.compute.router import ComputeRouter
from computerouter.domain.instances import InstanceState
from computerouter.domain.session import SessionRecord
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.errors import Conflict, ProviderError, SessionDataKept
from computerouter.store import Transition
from computerouter.testing import FakeClock, FakeProvider, session_record

KEY = SessionKey(user_id="alice", sandbox_id="sb1")
S = SessionState
I = InstanceState  # noqa: E741
DEAD_OWNER = "elsewhere:1:1"


def abandon(
    router: ComputeRouter, clock: FakeClock, record: SessionRecord, target: SessionState
) -> SessionRecord:
    """Claim ``record`` into ``target`` as a control plane that then died."""
    now = clock.now()
    claimed = router.store.sessions.transition(
        record.id,
        expected=record.state,
        target=target,
        now=now,
        changes=Transition(owner=DEAD_OWNER, lease_expires_at=now + 10, reason="test"),
    )
    clock.advance(11)
    return claimed


def archived_session(router: ComputeRouter) -> SessionRecord:
    made = router.ensure_session(KEY)
    return router.archive(made.id)


def instance_of(record: SessionRecord) -> str:
    assert record.instance_id is not None
    return record.instance_id


def test_half_made_restore_rolls_back_to_archived_and_the_next_run_restores(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    record = archived_session(router)
    abandon(router, clock, record, S.RESUMING)
    provider.put(instance_of(record), I.CREATING)  # unpacked halfway, runtime not answering

    report = reconcile(router)

    assert report.converged == [record.id]
    assert router.get(record.id).state is S.ARCHIVED
    assert provider.count(session_id=record.id) == 1, "the archive must not be destroyed"
    assert ("destroy", instance_of(record)) not in provider.calls
    again = router.ensure_session(KEY)
    assert again.id == record.id
    assert again.state is S.RUNNING
    assert provider.calls[-2:] == [
        ("restore", instance_of(record)),
        ("release_archive", instance_of(record)),
    ]


def test_next_run_finds_an_interrupted_restore_itself(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    record = archived_session(router)
    abandon(router, clock, record, S.RESUMING)
    provider.put(instance_of(record), I.ARCHIVED)  # died before the provider was called

    again = router.ensure_session(KEY)

    assert again.id == record.id
    assert again.state is S.RUNNING
    assert not provider.get(instance_of(record)).archive_retained  # type: ignore[union-attr]


def test_restore_that_reached_the_provider_is_adopted_and_its_archive_released(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    record = archived_session(router)
    abandon(router, clock, record, S.RESUMING)
    provider.restore(instance_of(record), router.instance_spec(record))  # archive retained

    reconcile(router)

    assert router.get(record.id).state is S.RUNNING
    assert provider.calls[-1] == ("release_archive", instance_of(record))
    assert not provider.get(instance_of(record)).archive_retained  # type: ignore[union-attr]


def test_interrupted_archive_is_finished(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    made = router.ensure_session(KEY)
    abandon(router, clock, made, S.ARCHIVING)
    provider.put(instance_of(made), I.ARCHIVED)  # packed and recorded, not yet cleaned up

    reconcile(router)

    assert router.get(made.id).state is S.ARCHIVED
    assert provider.calls[-1] == ("archive", instance_of(made))


@pytest.mark.parametrize("interrupted", [S.SUSPENDING, S.RESUMING, S.ARCHIVING])
def test_stopped_workspace_of_an_interrupted_operation_is_archived_not_failed(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock, interrupted: SessionState
) -> None:
    made = router.ensure_session(KEY)
    if interrupted is S.RESUMING:
        made = router.suspend(made.id)
    abandon(router, clock, made, interrupted)
    provider.put(instance_of(made), I.STOPPED)  # processes gone, workspace on disk

    reconcile(router)

    assert router.get(made.id).state is S.ARCHIVED
    assert provider.count(session_id=made.id) == 1


def test_instance_gone_is_failed(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    made = router.ensure_session(KEY)
    abandon(router, clock, made, S.SUSPENDING)
    provider.vanish(instance_of(made))

    reconcile(router)

    assert router.get(made.id).state is S.FAILED
    assert router.ensure_session(KEY).id != made.id  # nothing kept: the sandbox starts over


def failed_with_archive(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> SessionRecord:
    """A session that ran, archived, and whose restore then failed for good."""
    record = archived_session(router)
    abandon(router, clock, record, S.RESUMING)
    provider.put(instance_of(record), I.CREATING)
    provider.fail_next["archive"] = ProviderError("disk full", provider="fake")
    reconcile(router)
    provider.put(instance_of(record), I.ARCHIVED)  # what is left on the provider
    failed = router.get(record.id)
    assert failed.state is S.FAILED
    return failed


def test_failed_session_keeps_its_archive_and_the_next_run_says_so(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    failed = failed_with_archive(router, provider, clock)

    reconcile(router)  # the reconciler keeps it: it is not an orphan to destroy
    assert provider.count(session_id=failed.id) == 1

    with pytest.raises(SessionDataKept) as refused:
        router.ensure_session(KEY)
    assert failed.id in str(refused.value)
    assert "recover" in str(refused.value)
    assert router.store.sessions.find_live(KEY) is None, "nothing new may be started"


def test_recover_brings_a_failed_session_back_with_its_archive(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    failed = failed_with_archive(router, provider, clock)

    recovered = router.recover(failed.id)

    assert recovered.state is S.ARCHIVED
    again = router.ensure_session(KEY)
    assert again.id == failed.id
    assert again.state is S.RUNNING


def test_destroying_a_failed_session_lets_the_sandbox_start_over(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    failed = failed_with_archive(router, provider, clock)
    router.destroy(failed.id)
    assert provider.count(session_id=failed.id) == 0
    assert router.ensure_session(KEY).id != failed.id


def test_recover_refuses_without_an_archive(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    made = router.ensure_session(KEY)
    abandon(router, clock, made, S.SUSPENDING)
    provider.vanish(instance_of(made))
    reconcile(router)
    with pytest.raises(Conflict, match="keeps no archive"):
        router.recover(made.id)
    assert router.get(made.id).state is S.FAILED


def test_recover_refuses_when_the_sandbox_has_a_live_session(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    failed = failed_with_archive(router, provider, clock)
    router.store.sessions.insert_provisioning(
        session_record(at=clock.now(), user_id=KEY.user_id, sandbox_id=KEY.sandbox_id)
    )
    with pytest.raises(Conflict, match="already has a live session"):
        router.recover(failed.id)
    assert router.get(failed.id).state is S.FAILED


def test_failed_provisioning_leaves_nothing_kept(
    router: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    now = clock.now()
    record = session_record(
        at=now,
        user_id=KEY.user_id,
        sandbox_id=KEY.sandbox_id,
        owner=DEAD_OWNER,
        lease_expires_at=now + 10,
    )
    assert router.store.sessions.insert_provisioning(record)
    provider.create(router.instance_spec(record))
    provider.put(f"fk-{record.id}", I.STOPPED)
    clock.advance(11)

    reconcile(router)

    assert router.get(record.id).state is S.FAILED
    assert provider.count(session_id=record.id) == 0
    assert router.ensure_session(KEY).id != record.id


def test_reconciler_releases_an_archive_a_running_session_no_longer_needs(
    router: ComputeRouter, provider: FakeProvider
) -> None:
    record = archived_session(router)
    running = router.ensure_session(KEY)
    assert running.id == record.id
    provider.restore(instance_of(record), router.instance_spec(record))  # retained again

    report = reconcile(router)

    assert report.archives_released == [record.id]
    assert not provider.get(instance_of(record)).archive_retained  # type: ignore[union-attr]
