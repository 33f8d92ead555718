"""Runtime ceilings on compute: which ceiling applies, and the forced suspend at max uptime.

The rules are pure (:mod:`computerouter.domain.ceilings`); this module reads the sandbox's
overrides and the defaults, and carries out the lifecycle's forced suspend: a session up for
its ``max_uptime_s`` is suspended even with runs in flight. Those runs are asked to cancel
first, on whichever replica runs them (their keepalive hears it within a second and ends them
with ``run.cancelled``, billed up to the request); a run still marked in flight after a short
grace (its owner is gone or stuck) is ended here, at the request, so it neither holds the
session up nor is billed beyond it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from computerouter.compute.liveness import CANCEL_POLL_S
from computerouter.domain.ceilings import effective, past_uptime
from computerouter.domain.session import RunRecord, RunState, SandboxSettings, SessionRecord
from computerouter.domain.values import SessionKey
from computerouter.errors import ComputeRouterError, ProviderUnavailable

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter

__all__ = [
    "UPTIME_GRACE_S",
    "UptimeDue",
    "force_suspend",
    "max_uptime_s",
    "run_ceiling_s",
    "uptime_reached",
]

UPTIME_GRACE_S = 3 * CANCEL_POLL_S
"""How long a forced suspend waits for its runs' owners to end them before ending them itself."""
_POLL_S = 0.1


def run_ceiling_s(router: ComputeRouter, key: SessionKey, agent_max_run_s: float | None) -> float:
    """A run's ceiling: the agent's own, else its sandbox's, else ``settings.max_run_s``."""
    sandbox = router.store.sandboxes.get(key)
    return effective(agent_max_run_s, sandbox.max_run_s, default=router.settings.max_run_s)


def max_uptime_s(router: ComputeRouter, sandbox: SandboxSettings | None) -> float:
    """A session's maximum uptime: its sandbox's, else ``settings.max_uptime_s``."""
    own = None if sandbox is None else sandbox.max_uptime_s
    return effective(own, default=router.settings.max_uptime_s)


def uptime_reached(router: ComputeRouter, record: SessionRecord, limit: float) -> bool:
    return past_uptime(record, now=router.clock.now(), max_uptime_s=limit)


@dataclass(frozen=True, kw_only=True, slots=True)
class UptimeDue:
    """A session at its maximum uptime, with its runs in flight when the pass looked."""

    session: SessionRecord
    runs: tuple[RunRecord, ...]
    limit_s: float


def force_suspend(
    router: ComputeRouter, due: Sequence[UptimeDue]
) -> list[tuple[UptimeDue, SessionRecord | ComputeRouterError]]:
    """Suspend each session in ``due`` (archive it where the provider cannot suspend), its
    runs in flight cancelled first; one grace for all of them, so a pass waits once.

    Returns each session's outcome: its record after, or the error that stopped it (a run
    that began meanwhile: :class:`~computerouter.errors.Conflict`; the next pass tries again).
    """
    store = router.store
    at = router.clock.now()
    for item in due:
        for run in item.runs:
            store.runs.request_cancel(run.run_id, reason=_reason(item.limit_s), at=at)
    pending = {run.run_id: item.session.id for item in due for run in item.runs}
    waited = 0.0
    while pending and waited < UPTIME_GRACE_S:
        router.clock.sleep(_POLL_S)
        waited += _POLL_S
        live = {run.run_id for run in store.runs.all_in_flight()}
        pending = {run_id: sid for run_id, sid in pending.items() if run_id in live}
    for run_id in pending:
        # Its owner did not end it: end it here, at the request (billing stops there too).
        store.runs.end(run_id, state=RunState.CANCELLED, now=at)
        router.gates.release_run(run_id)
    outcomes: list[tuple[UptimeDue, SessionRecord | ComputeRouterError]] = []
    for item in due:
        try:
            outcomes.append((item, _suspend(router, item.session)))
        except ComputeRouterError as exc:
            outcomes.append((item, exc))
    return outcomes


def _reason(limit_s: float) -> str:
    return f"the session reached its maximum uptime of {limit_s:g} s (max_uptime_s)"


def _suspend(router: ComputeRouter, record: SessionRecord) -> SessionRecord:
    capabilities = router.provider(record.provider).capabilities
    if capabilities.suspend:
        return router.suspend(record.id, reason="max uptime")
    if capabilities.archive:
        return router.archive(record.id, reason="max uptime")
    raise ProviderUnavailable(
        "can neither suspend nor archive sessions; max_uptime_s cannot be enforced",
        provider=record.provider,
    )
