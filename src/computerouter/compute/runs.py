"""Runs on sessions: a session held busy for one run, with its credit held and billed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from computerouter.domain.session import RunRecord, RunState, SessionRecord
from computerouter.domain.states import SessionState
from computerouter.domain.values import Resources, SessionKey
from computerouter.errors import ComputeRouterError

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter

__all__ = ["RunLease", "hold_run"]

S = SessionState


@dataclass(kw_only=True)
class RunLease:
    """A session held busy for one run; ``outcome`` is what the run's row will say at the end."""

    session: SessionRecord
    run_id: str
    outcome: str = RunState.COMPLETED


@contextmanager
def hold_run(
    router: ComputeRouter,
    key: SessionKey,
    *,
    run_id: str,
    agent_id: str = "",
    provider: str | Sequence[str] | None = None,
    runtime: str | None = None,
    resources: Resources | None = None,
    region: str = "",
) -> Iterator[RunLease]:
    """Ensure a session and hold it busy for one run.

    Yields a :class:`RunLease`; set its ``outcome`` if the run failed or was cancelled
    without raising.

    While the run is open the reaper will not suspend or archive the session, and the
    router's keepalive marks it alive (a replica that dies stops doing so, and its runs are
    ended after ``run_stale_after_s``); when it closes, the idle clock restarts. The run is
    recorded before the session's state is read back, and suspend/archive read runs after
    claiming the session, so a run and a suspend racing each other always see one another.

    With a ``credit_gate``, credit is held before any session is touched (a refusal raises
    :class:`~computerouter.errors.InsufficientCredit`), and the run is billed once it ends.
    """
    gate = router.credit_gate
    if gate is not None:
        gate.reserve(
            user_id=key.user_id, sandbox_id=key.sandbox_id, agent_id=agent_id, run_id=run_id
        )
    try:
        while True:
            session = router.ensure_session(
                key,
                provider=provider,
                runtime=runtime,
                resources=resources,
                region=region,
                agent_id=agent_id,
                run_id=run_id,
            )
            now = router.clock.now()
            router.store.runs.begin(
                RunRecord(
                    run_id=run_id,
                    session_id=session.id,
                    user_id=session.user_id,
                    sandbox_id=session.sandbox_id,
                    agent_id=agent_id,
                    state=RunState.RUNNING,
                    owner=router.owner,
                    started_at=now,
                    heartbeat_at=now,
                )
            )
            current = router.get(session.id)
            if current.state is S.RUNNING:
                break
            # Suspended between ensure and begin: let go and ensure again.
            router.store.runs.release(run_id)
    except BaseException:
        if gate is not None:
            gate.release(run_id)
        raise
    cpu_before = _cpu_seconds(router, current) if gate is not None else None
    lease = RunLease(session=current, run_id=run_id)
    outcome = RunState.FAILED
    try:
        with router.keepalive.run(run_id):
            yield lease
        outcome = lease.outcome
    except (KeyboardInterrupt, GeneratorExit):
        outcome = RunState.CANCELLED
        raise
    finally:
        end = router.clock.now()
        router.store.runs.end(run_id, state=outcome, now=end)
        router.store.sessions.touch(session.id, now=end)
        if gate is not None:
            cpu_after = _cpu_seconds(router, current)
            used = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
            gate.settle(run_id, cpu_seconds=used)


def _cpu_seconds(router: ComputeRouter, record: SessionRecord) -> float | None:
    """The instance's CPU time so far (cgroup, on ``local``), for the record; ``None`` when
    the provider cannot tell."""
    if record.instance_id is None:
        return None
    try:
        return router.provider(record.provider).usage(record.instance_id).cpu_seconds
    except (ComputeRouterError, NotImplementedError):
        return None
