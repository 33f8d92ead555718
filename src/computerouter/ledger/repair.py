"""The ledger's repair pass: level-driven, like the reconciler. It looks at what is, not at
what happened, and writes what is missing:

- every ended run without its token or compute entry gets it (a crash between the two writes,
  a crash before either, a run the reconciler ended as abandoned);
- every session with running time not yet attributed is metered, so the idle tail before a
  suspend, an archive or a destroy is billed to its sandbox;
- holds of runs that ended are given back (by billing them), and so are holds of runs that
  never began when the process that took them is gone, or, when that cannot be told (another
  host), once they are ``stale_hold_after_s`` old (see :mod:`computerouter.ledger.holds`).

Safe to run any number of times, from any number of control planes at once: every write it
makes is idempotent. ``computerouter compute reap`` is where it belongs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from computerouter.errors import ComputeRouterError
from computerouter.ledger.holds import dead_holds
from computerouter.ledger.ledger import Ledger
from computerouter.ledger.metering import to_ms

__all__ = ["RepairReport", "repair"]


@dataclass(kw_only=True, slots=True)
class RepairReport:
    runs_billed: list[str] = field(default_factory=list)
    sessions_metered: list[str] = field(default_factory=list)
    holds_released: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def repair(
    ledger: Ledger,
    *,
    now: float | None = None,
    lag_s: float = 5.0,
    flush_running_after_s: float = 3600.0,
    stale_hold_after_s: float = 900.0,
) -> RepairReport:
    """One pass. ``lag_s`` keeps metering behind the clock, so a state change that is being
    written right now is in the log before its time is attributed; a running session's idle
    time is billed at the latest ``flush_running_after_s`` after it accrued."""
    now = ledger.clock.now() if now is None else now
    report = RepairReport()
    store = ledger.ledger_store
    for run_id in store.ended_runs_missing_entries():
        try:
            ledger.settle_run(run_id)
            report.runs_billed.append(run_id)
        except ComputeRouterError as exc:
            report.errors.append(f"{run_id}: {exc}")
    until = now - lag_s
    for session_id in store.sessions_to_meter(flush_before_ms=to_ms(now - flush_running_after_s)):
        try:
            before = store.meter(session_id)
            after = ledger.meter_session(session_id, until=until)
        except ComputeRouterError as exc:
            report.errors.append(f"{session_id}: {exc}")
            continue
        if before is None or after.metered_to_ms != before.metered_to_ms:
            report.sessions_metered.append(session_id)
    for dead in dead_holds(ledger, now=now, stale_after_s=stale_hold_after_s):
        if not dead.releasable:
            continue
        run = dead.run
        try:
            ledger.release(run.run_id)
            report.holds_released.append(run.run_id)
        except ComputeRouterError as exc:
            report.errors.append(f"{run.run_id}: {exc}")
    return report
