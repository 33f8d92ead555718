"""The lifecycle pass: everything that keeps sessions and the ledger converged, in one call.

One pass is, in order:

1. the reconciler (:func:`~computerouter.compute.reconciler.reconcile`): the store and the
   providers agree again, whatever crashed (abandoned operations finished or undone, orphans
   destroyed, runs of dead owners ended);
2. the reaper (:func:`~computerouter.compute.reaper.reap_once`): sessions up for their maximum
   uptime are suspended (their runs cancelled first), sessions idle past their window are
   suspended, those idle past the archive window archived;
3. the ledger's repair (:func:`~computerouter.ledger.repair`), when billing is on: missing run
   entries written, idle tails metered, stale credit holds released;
4. active health probes (:func:`~computerouter.compute.probes.probe_once`), every
   ``provider_probe_interval_s``: circuits closed or opened without a user's call paying;
5. the warm pools (:meth:`~computerouter.compute.pool.WarmPools.maintain`), when
   ``warm_pool`` names any: unusable pooled instances discarded, idle pools shrunk, the
   others refilled;
6. run tokens expired more than ``RUN_TOKEN_KEEP_S`` ago dropped (they can never verify
   again; kept that long for whoever looks into a refused call).

``computerouter compute reap`` runs one pass (``--every``: a pass per interval), and the
per-home lifecycle daemon (:mod:`computerouter.compute.daemon`) runs one every
``lifecycle_interval_s``. This is the only place the three are composed: what a step learns to
do flows into every caller.

Safe to run concurrently, from threads, processes, or several control planes sharing one
PostgreSQL store: every state change a step makes is a compare-and-set through the transition
table (a pass that loses a race skips that session and the winner's change stands), taking
over an abandoned operation is itself a compare-and-set on its lease, and every ledger write
is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from computerouter.compute.pool import PoolReport
from computerouter.compute.probes import ProbeReport, probe_once
from computerouter.compute.reaper import ReapReport, reap_once
from computerouter.compute.reconciler import ReconcileReport, reconcile
from computerouter.domain.states import TRANSITIONAL_STATES, SessionState
from computerouter.ledger import Ledger, RepairReport, repair
from computerouter.store.run_tokens import RunTokenStore

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter
    from computerouter.store import Store

__all__ = [
    "NEEDS_LIFECYCLE",
    "RUN_TOKEN_KEEP_S",
    "LifecycleReport",
    "lifecycle_pass",
    "needs_lifecycle",
]

RUN_TOKEN_KEEP_S = 86_400.0
"""How long an expired run token's row is kept before a pass drops it."""

NEEDS_LIFECYCLE = frozenset({SessionState.RUNNING, SessionState.SUSPENDED} | TRANSITIONAL_STATES)
"""States in which a session still needs the lifecycle to run: running (it may go idle),
suspended (it may reach its archive window), mid-operation (its owner may die). Archived,
destroyed and failed sessions wait for a caller, not for time."""

# How each outcome is shown. Every list field of a step's report is an outcome: one that a
# step adds later is shown too, by its own name, until it is given a label here.
_LABELS = {
    "adopted": "adopted",
    "converged": "converged",
    "failed": "marked failed",
    "orphans_destroyed": "orphans destroyed",
    "archived_stopped": "stopped, archived",
    "runs_abandoned": "runs abandoned",
    "uptime_suspended": "suspended (max uptime)",
    "suspended": "suspended (idle)",
    "archived": "archived (window)",
    "busy": "busy (left alone)",
    "runs_billed": "runs billed (repair)",
    "sessions_metered": "sessions metered",
    "holds_released": "credit holds released",
    "circuits_closed": "circuits closed (probe)",
    "circuits_reopened": "circuits re-opened (probe)",
    "circuits_opened": "circuits opened (probe)",
    "booted": "pooled instances booted",
    "discarded": "pooled instances discarded",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class LifecycleReport:
    """What one pass did, step by step (each step's own report), and when."""

    reconciled: ReconcileReport
    reaped: ReapReport
    repaired: RepairReport
    started_at: float
    finished_at: float
    probed: ProbeReport = field(default_factory=ProbeReport)
    pooled: PoolReport = field(default_factory=PoolReport)

    def _items(self) -> Iterator[tuple[str, list[str]]]:
        for step in (self.reconciled, self.reaped, self.repaired, self.probed, self.pooled):
            for f in fields(step):
                value = getattr(step, f.name)
                if f.name != "errors" and isinstance(value, list):
                    yield f.name, value

    def outcomes(self) -> list[tuple[str, list[str]]]:
        """``(label, items)`` for every outcome of every step, in pass order, errors last."""
        rows = [(_LABELS.get(name, name.replace("_", " ")), items) for name, items in self._items()]
        rows.append(("errors", self.errors))
        return rows

    @property
    def errors(self) -> list[str]:
        return [
            *self.reconciled.errors,
            *self.reaped.errors,
            *self.repaired.errors,
            *self.probed.errors,
            *self.pooled.errors,
        ]

    @property
    def changed(self) -> bool:
        """Whether the pass changed anything (sessions left alone because busy do not count)."""
        return any(items for name, items in self._items() if name != "busy")

    def summary(self) -> str:
        """One line: the non-empty outcomes with their counts, or ``nothing to do``."""
        parts = [f"{label} {len(items)}" for label, items in self.outcomes() if items]
        return ", ".join(parts) if parts else "nothing to do"


def lifecycle_pass(router: ComputeRouter, *, ledger: Ledger | None = None) -> LifecycleReport:
    """One pass: reconcile, reap, repair the ledger, then probe the providers.

    ``ledger`` is the ledger to repair; by default the router's credit gate when that is the
    ledger (billing on), else none. Errors on single sessions are collected in the report, not
    raised; an error that stops a whole step (the store unreachable) propagates.
    """
    if ledger is None and isinstance(router.credit_gate, Ledger):
        ledger = router.credit_gate
    started = router.clock.now()
    reconciled = reconcile(router)
    reaped = reap_once(router)
    repaired = repair(ledger) if ledger is not None else RepairReport()
    probed = probe_once(router)
    pooled = router.pool.maintain()
    RunTokenStore(router.store.engine).purge(expired_before=started - RUN_TOKEN_KEEP_S)
    return LifecycleReport(
        reconciled=reconciled,
        reaped=reaped,
        repaired=repaired,
        probed=probed,
        pooled=pooled,
        started_at=started,
        finished_at=router.clock.now(),
    )


def needs_lifecycle(store: Store) -> bool:
    """Whether any session in ``store`` is in a state the lifecycle still has work for."""
    return bool(store.sessions.list(states=sorted(NEEDS_LIFECYCLE)))
