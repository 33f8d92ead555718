"""The reconciler: make the store and the providers agree, whatever crashed in between.

Level-driven: it does not replay what happened, it looks at what is. For every provider it
compares the instances the provider reports (by their labels) with the sessions the store
holds, and converges:

- an operation whose owner died (a ``kill -9`` mid-provisioning, say) is finished or undone
  according to what the instance is now: a healthy new instance is adopted, a half-made one
  is destroyed;
- an interrupted operation on a session that holds data (suspend, resume, archive, restore) is
  never resolved by deleting that data: a serving instance is adopted, a frozen one is
  suspended, anything else is archived through the provider, which finishes an archive or
  rolls a restore back to the archive it came from;
- an instance that no live session claims is destroyed (nothing runs unaccounted), except the
  kept archive of a failed session that once ran: that stays until an operator destroys it;
- a session whose instance vanished is marked failed; one whose processes stopped but whose
  workspace is intact (a host restart) is archived, so the next run restores it;
- an archive a restored, running session no longer needs is released;
- runs whose owner died are ended as abandoned, so they no longer pin their session awake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from computerouter.compute.owner import owner_alive
from computerouter.domain.instances import Instance, InstanceState
from computerouter.domain.session import RunRecord, SessionRecord
from computerouter.domain.states import TRANSITIONAL_STATES, SessionState
from computerouter.errors import ComputeRouterError, StaleState
from computerouter.runtimes.transport import client_for
from computerouter.store import Transition

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter
    from computerouter.providers.base import Provider

__all__ = ["ReconcileReport", "converge_abandoned", "reconcile"]

S = SessionState
I = InstanceState  # noqa: E741


@dataclass(kw_only=True, slots=True)
class ReconcileReport:
    adopted: list[str] = field(default_factory=list)
    converged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    orphans_destroyed: list[str] = field(default_factory=list)
    archived_stopped: list[str] = field(default_factory=list)
    archives_released: list[str] = field(default_factory=list)
    runs_abandoned: list[str] = field(default_factory=list)
    permits_released: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def reconcile(router: ComputeRouter) -> ReconcileReport:
    report = ReconcileReport()
    store = router.store
    now = router.clock.now()
    for run in _dead_runs(router):
        # It was last known alive at its heartbeat: it ends, and stops being billed, there.
        ended = min(run.heartbeat_at, now)
        if store.runs.end(run.run_id, state="abandoned", now=ended):
            report.runs_abandoned.append(run.run_id)
    _release_dead_permits(router, report)

    for record in store.sessions.list(states=sorted(TRANSITIONAL_STATES)):
        if owner_alive(record.owner, lease_expires_at=record.lease_expires_at, now=now):
            continue
        try:
            outcome = converge_abandoned(router, record)
        except ComputeRouterError as exc:
            report.errors.append(f"{record.id}: {exc}")
            continue
        if outcome == "adopted":
            report.adopted.append(record.id)
        elif outcome == "failed":
            report.failed.append(record.id)
        elif outcome is not None:
            report.converged.append(record.id)

    for name, provider in router.providers.items():
        try:
            instances = list(provider.list())
        except ComputeRouterError as exc:
            report.errors.append(f"{name}: cannot list instances: {exc}")
            continue
        claimed = _claim_instances(router, provider, instances, report)
        for record in store.sessions.list(
            provider=name, states=[S.RUNNING, S.SUSPENDED, S.ARCHIVED]
        ):
            if record.instance_id is None or record.instance_id in claimed:
                continue
            vanished = provider.get(record.instance_id) is None
            if vanished and _mark(router, record, S.FAILED, "instance vanished from the provider"):
                report.failed.append(record.id)
    return report


def _claim_instances(
    router: ComputeRouter, provider: Provider, instances: list[Instance], report: ReconcileReport
) -> set[str]:
    """Match the provider's instances to sessions; destroy orphans. Returns the ids kept."""
    store = router.store
    claimed: set[str] = set()
    for instance in instances:
        if instance.pooled:
            claimed.add(instance.instance_id)  # the warm pool's (see .pool), no session's yet
            continue
        sid = instance.labels.session_id
        owner_record = store.sessions.get(sid) if sid else None
        if owner_record is not None and owner_record.state in TRANSITIONAL_STATES:
            claimed.add(instance.instance_id)  # an owner is still at work on it
            continue
        # A session that moved to another provider leaves its old instance behind: not mine.
        mine = (
            owner_record is not None
            and owner_record.provider == provider.name
            and owner_record.instance_id in (None, instance.instance_id)
        )
        if mine and owner_record is not None and owner_record.state is S.FAILED:
            if _keep_failed(router, owner_record, instance, report):
                claimed.add(instance.instance_id)
                continue
        elif mine and owner_record is not None and owner_record.state is not S.DESTROYED:
            claimed.add(instance.instance_id)
            if (
                instance.archive_retained
                and owner_record.state in (S.RUNNING, S.SUSPENDED)
                and router.release_archive(owner_record)
            ):
                report.archives_released.append(owner_record.id)
            _archive_if_stopped(router, owner_record, instance, report)
            continue
        try:
            provider.destroy(instance.instance_id)
            report.orphans_destroyed.append(instance.instance_id)
        except ComputeRouterError as exc:
            report.errors.append(f"{instance.instance_id}: {exc}")
            continue
        if owner_record is not None and owner_record.state is S.FAILED:
            _mark(router, owner_record, S.DESTROYED, "orphaned instance destroyed")
    return claimed


def _archive_if_stopped(
    router: ComputeRouter, record: SessionRecord, instance: Instance, report: ReconcileReport
) -> None:
    """A live session whose processes are gone but whose workspace is intact (a host restart,
    a killed tree) is archived: nothing is lost, and the next run restores it."""
    if instance.state is not I.STOPPED or record.state not in (S.RUNNING, S.SUSPENDED):
        return
    try:
        router.archive(record.id, reason="its processes stopped; workspace kept as an archive")
    except ComputeRouterError as exc:
        report.errors.append(f"{record.id}: stopped, and could not be archived: {exc}")
        return
    report.archived_stopped.append(record.id)


def _keep_failed(
    router: ComputeRouter, record: SessionRecord, instance: Instance, report: ReconcileReport
) -> bool:
    """A failed session that once ran keeps its workspace as an archive (its agent's memory)
    until an operator destroys it; a leftover process tree is stopped by archiving it. One
    that never ran has nothing worth keeping. True if the instance is to be kept."""
    if instance.state is I.ARCHIVED:
        return True
    if instance.state is I.UNKNOWN or not _ever_ran(router, record):
        return False
    try:
        router.provider(record.provider).archive(instance.instance_id)
    except ComputeRouterError as exc:
        report.errors.append(f"{record.id}: failed, and its workspace could not be archived: {exc}")
        return True  # never delete what could not be saved
    report.archived_stopped.append(record.id)
    return True


def _ever_ran(router: ComputeRouter, record: SessionRecord) -> bool:
    return any(row.to_state is S.RUNNING for row in router.store.sessions.history(record.id))


def _release_dead_permits(router: ComputeRouter, report: ReconcileReport) -> None:
    """Run permits (per-user caps) of runs that ended, or whose control plane died before the
    run began, are given back, so a crash never eats into a user's cap."""
    gates = router.gates.store
    now = router.clock.now()
    placing = 2 * max(router.settings.lease_s, router.settings.wait_timeout_s)
    dead = list(gates.ended_permits())
    dead += [
        run_id
        for run_id, owner, created_at in gates.unstarted_permits()
        if not owner_alive(owner, lease_expires_at=created_at + placing, now=now)
    ]
    for run_id in dead:
        gates.release_permit(run_id)
        report.permits_released.append(run_id)


def _dead_runs(router: ComputeRouter) -> list[RunRecord]:
    """Runs whose control plane is gone: dead on this host (seen at once), or silent for
    ``run_stale_after_s`` (another host's, which may have died with them)."""
    now = router.clock.now()
    stale_before = now - router.settings.run_stale_after_s
    return [
        run
        for run in router.store.runs.all_in_flight()
        if run.heartbeat_at < stale_before
        or not owner_alive(run.owner, lease_expires_at=None, now=now)
    ]


def converge_abandoned(router: ComputeRouter, record: SessionRecord) -> str | None:
    """Finish or undo the operation a dead owner left ``record`` in. Returns what was done."""
    now = router.clock.now()
    mine = router.store.sessions.take_over(
        record, owner=router.owner, lease_expires_at=now + router.settings.lease_s, now=now
    )
    if mine is None:
        return None  # someone else took it over first
    instance = _find_instance(router, mine)
    state = mine.state
    if state is S.DESTROYING:
        router.destroy_instance(mine)
        _settle(router, mine, S.DESTROYED, None, "destroy finished by reconciler")
        return "converged"
    abandoned = f"adopted after {state.value} was abandoned"
    if instance is not None and instance.state is I.RUNNING and _healthy(router, mine, instance):
        _settle(router, mine, S.RUNNING, instance, abandoned)
        if instance.archive_retained:
            router.release_archive(router.get(mine.id))
        return "adopted" if state is S.PROVISIONING else "converged"
    if state is S.PROVISIONING:
        # Nothing of value was made yet: undo it.
        if instance is not None:
            router.provider(mine.provider).destroy(instance.instance_id)
        _settle(router, mine, S.FAILED, None, "abandoned while provisioning")
        return "failed"
    if instance is not None and instance.state is I.SUSPENDED:
        _settle(router, mine, S.SUSPENDED, instance, abandoned)
        return "converged"
    if instance is None or instance.state is I.UNKNOWN:
        gone = f"abandoned while {state.value}; its instance is gone"
        _settle(router, mine, S.FAILED, None, gone)
        return "failed"
    # Archived, half restored, stopped, or not answering: keep the data as an archive. The
    # provider finishes an interrupted archive or rolls a restore back to its archive.
    try:
        archived = router.provider(mine.provider).archive(instance.instance_id)
    except ComputeRouterError as exc:
        _settle(
            router,
            mine,
            S.FAILED,
            None,
            f"abandoned while {state.value}; could not be archived ({exc}); its data is kept",
        )
        return "failed"
    _settle(router, mine, S.ARCHIVED, archived, f"archived after {state.value} was abandoned")
    return "converged"


def _find_instance(router: ComputeRouter, record: SessionRecord) -> Instance | None:
    provider = router.provider(record.provider)
    if record.instance_id is not None:
        return provider.get(record.instance_id)
    return next(
        (i for i in provider.list() if i.labels.session_id == record.id and not i.pooled), None
    )


def _healthy(router: ComputeRouter, record: SessionRecord, instance: Instance) -> bool:
    if instance.endpoint is None:
        return False
    try:
        runtime = router.runtime(record.runtime)
        with client_for(instance.endpoint, timeout_s=5.0) as client:
            runtime.check(client)
    except ComputeRouterError:
        return False
    return True


def _settle(
    router: ComputeRouter,
    record: SessionRecord,
    target: SessionState,
    instance: Instance | None,
    reason: str,
) -> None:
    running = target is S.RUNNING and instance is not None
    router.store.sessions.transition(
        record.id,
        expected=record.state,
        target=target,
        now=router.clock.now(),
        changes=Transition(
            instance_id=None if instance is None else instance.instance_id,
            endpoint=instance.endpoint if running and instance is not None else None,
            clear_endpoint=not running,
            release_lease=True,
            error=None if target is not S.FAILED else reason,
            reason=reason,
        ),
    )


def _mark(router: ComputeRouter, record: SessionRecord, target: SessionState, reason: str) -> bool:
    try:
        router.store.sessions.transition(
            record.id,
            expected=record.state,
            target=target,
            now=router.clock.now(),
            changes=Transition(
                release_lease=True,
                clear_endpoint=True,
                error=reason if target is S.FAILED else None,
                reason=reason,
            ),
        )
    except StaleState:
        return False
    return True
