"""The reaper: one pass of uptime and idle suspension and archiving, driven by what the store
says now."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from computerouter.compute.ceilings import UptimeDue, force_suspend, max_uptime_s, uptime_reached
from computerouter.domain.lifecycle import LifecycleAction, LifecyclePolicy, decide
from computerouter.domain.states import SessionState
from computerouter.errors import ComputeRouterError, Conflict

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter

__all__ = ["ReapReport", "reap_once"]


@dataclass(kw_only=True, slots=True)
class ReapReport:
    uptime_suspended: list[str] = field(default_factory=list)
    suspended: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def reap_once(router: ComputeRouter) -> ReapReport:
    """Suspend sessions up for their maximum uptime, suspend sessions idle past their window
    and archive those idle past theirs.

    Windows and ceilings come from the sandbox's settings, else the router's defaults. A
    session with a run in flight is never suspended for idleness: it is skipped here, and the
    suspend itself re-checks after claiming the session, in case a run began in between. A
    session at its maximum uptime is suspended even so, its runs cancelled first (see
    :func:`~computerouter.compute.ceilings.force_suspend`).
    """
    report = ReapReport()
    store = router.store
    # Activity this process holds back (debounced) counts: no session is judged idle on a
    # last_active_at older than what it did.
    store.sessions.flush_activity()
    overrides = store.sandboxes.all()
    defaults = router.settings
    in_flight = store.runs.all_in_flight()
    busy = Counter(run.session_id for run in in_flight)
    due: list[UptimeDue] = []
    for record in store.sessions.list(states=[SessionState.RUNNING, SessionState.SUSPENDED]):
        sandbox = overrides.get((record.user_id, record.sandbox_id))
        policy = LifecyclePolicy(
            idle_suspend_s=(
                sandbox.idle_suspend_s
                if sandbox is not None and sandbox.idle_suspend_s is not None
                else defaults.idle_suspend_s
            ),
            archive_after_s=(
                sandbox.archive_after_s
                if sandbox is not None and sandbox.archive_after_s is not None
                else defaults.archive_after_s
            ),
        )
        try:
            capabilities = router.provider(record.provider).capabilities
        except ComputeRouterError as exc:
            report.errors.append(f"{record.id}: {exc}")
            continue
        limit = max_uptime_s(router, sandbox)
        if uptime_reached(router, record, limit):
            runs = tuple(run for run in in_flight if run.session_id == record.id)
            due.append(UptimeDue(session=record, runs=runs, limit_s=limit))
            continue
        runs_here = busy[record.id]
        action = decide(
            record,
            now=router.clock.now(),
            policy=policy,
            runs_in_flight=runs_here,
            can_suspend=capabilities.suspend,
            can_archive=capabilities.archive,
        )
        if runs_here:
            report.busy.append(record.id)
        try:
            if action is LifecycleAction.SUSPEND:
                router.suspend(record.id, reason="idle")
                report.suspended.append(record.id)
            elif action is LifecycleAction.ARCHIVE:
                router.archive(record.id, reason="archive window")
                report.archived.append(record.id)
        except Conflict as exc:
            report.busy.append(f"{record.id}: {exc}")
        except ComputeRouterError as exc:
            report.errors.append(f"{record.id}: {exc}")
    for item, outcome in force_suspend(router, due) if due else ():
        if outcome is None:
            report.busy.append(f"{item.session.id}: its runs are stopping (max uptime)")
        elif isinstance(outcome, Conflict):
            report.busy.append(f"{item.session.id}: {outcome}")
        elif isinstance(outcome, ComputeRouterError):
            report.errors.append(f"{item.session.id}: {outcome}")
        else:
            report.uptime_suspended.append(item.session.id)
    return report
