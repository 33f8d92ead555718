"""Runtime ceilings on compute: which ceiling applies, and the forced suspend at max uptime.

The rules are pure (:mod:`computerouter.domain.ceilings`); this module reads the sandbox's
overrides and the defaults, and carries out the lifecycle's forced suspend: a session up for
its ``max_uptime_s`` is suspended even with runs in flight. Those runs are asked to cancel
first, on whichever replica runs them (their keepalive hears it within a second and ends them
with ``run.cancelled``, billed up to the request), and the pass waits a moment for them. A
session whose runs are still stopping is left for the next pass; a run still in flight
:data:`UPTIME_FORCE_AFTER_S` after the request (its owner is gone or stuck) is ended here, at
the request, so it neither holds the session up nor is billed beyond it. No turn is frozen
under its owner while the owner is still stopping it.
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
    "UPTIME_FORCE_AFTER_S",
    "UPTIME_GRACE_S",
    "UptimeDue",
    "force_suspend",
    "max_uptime_s",
    "run_ceiling_s",
    "uptime_reached",
]

UPTIME_GRACE_S = 3 * CANCEL_POLL_S
"""How long a forced suspend waits, within one pass, for its runs' owners to end them."""
UPTIME_FORCE_AFTER_S = 30.0
"""A run asked this long ago to stop for its session's uptime, and still in flight, is ended
by the lifecycle pass itself (its owner is gone or stuck), at the request."""
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
) -> list[tuple[UptimeDue, SessionRecord | ComputeRouterError | None]]:
    """Suspend each session in ``due`` (archive it where the provider cannot suspend), its
    runs in flight cancelled first; one short wait for all of them, so a pass waits once.

    Returns each session's outcome: its record after; ``None`` when its runs are still
    stopping (asked less than :data:`UPTIME_FORCE_AFTER_S` ago: a later pass finishes it); or
    the error that stopped it (a run that began meanwhile:
    :class:`~computerouter.errors.Conflict`; the next pass tries again).
    """
    store = router.store
    now = router.clock.now()
    for item in due:
        for run in item.runs:
            # A second ask is a no-op: the first request's time stands, and bills.
            store.runs.request_cancel(run.run_id, reason=_reason(item.limit_s), at=now)
    pending = {run.run_id for item in due for run in item.runs}
    waited = 0.0
    while pending and waited < UPTIME_GRACE_S:
        router.clock.sleep(_POLL_S)
        waited += _POLL_S
        pending &= {run.run_id for run in store.runs.all_in_flight()}
    asked = router.gates.store.cancel_requests(sorted(pending)) if pending else {}
    stopping: set[str] = set()
    for run_id in pending:
        at = asked.get(run_id, ("", now))[1]
        if router.clock.now() - at < UPTIME_FORCE_AFTER_S:
            stopping.add(run_id)  # its owner may still be stopping it; look again next pass
            continue
        # Its owner did not end it: end it here, at the request (billing stops there too).
        store.runs.end(run_id, state=RunState.CANCELLED, now=at)
        router.gates.release_run(run_id)
    outcomes: list[tuple[UptimeDue, SessionRecord | ComputeRouterError | None]] = []
    for item in due:
        if any(run.run_id in stopping for run in item.runs):
            outcomes.append((item, None))
            continue
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
