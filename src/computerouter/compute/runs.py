"""Runs on sessions: a session held busy for one run, with its credit held and billed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from computerouter.compute.offers import ProviderRequest, resolve
from computerouter.domain.session import RunRecord, RunState, SessionRecord
from computerouter.domain.states import SessionState
from computerouter.domain.values import Resources, SessionKey
from computerouter.errors import ComputeRouterError, SessionNotFound
from computerouter.providers.base import KeepAlive

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter

__all__ = ["RunLease", "hold_run"]

S = SessionState


@dataclass(kw_only=True)
class RunLease:
    """A session held busy for one run; ``outcome`` is what the run's row will say at the end."""

    session: SessionRecord
    run_id: str
    started_at: float = 0.0
    """When the run began (its row's ``started_at``): its running time, and billing, count
    from here."""
    outcome: str = RunState.COMPLETED
    cancel_requested_at: float | None = None
    """Set when the run was asked to cancel (a ``pause --now``): it ends, and is billed, there."""
    deadline: float | None = None
    """When the run reaches its ceiling (``max_run_s`` after it began): it is never billed,
    nor recorded as running, beyond this."""


def _keep_alive(router: ComputeRouter, session: SessionRecord) -> Callable[[], None] | None:
    """The provider's keep-alive for this run's instance, called now and at every heartbeat,
    so a vendor's idle timer never stops an instance under a turn; None where not needed."""
    provider = router.providers.get(session.provider)
    instance_id = session.instance_id
    if not isinstance(provider, KeepAlive) or not instance_id:
        return None

    def beat() -> None:
        provider.keep_alive(instance_id)

    with suppress(ComputeRouterError):
        beat()
    return beat


@contextmanager
def hold_run(
    router: ComputeRouter,
    key: SessionKey,
    *,
    run_id: str,
    agent_id: str = "",
    provider: ProviderRequest = None,
    runtime: str | None = None,
    resources: Resources | None = None,
    region: str = "",
    on_cancel: Callable[[str], None] | None = None,
    move_when_down: bool = False,
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
    names = [name for name, _ in resolve(router, provider, region, resources)]
    _admit(router, key, run_id=run_id, agent_id=agent_id, providers=names)
    gate = router.credit_gate
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
                move_when_down=move_when_down,
            )
            now = router.clock.now()
            current = router.store.sessions.begin_run(
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
            if current is None:
                raise SessionNotFound(session.id)
            if current.state is S.RUNNING:
                break
            # Suspended between ensure and begin: let go and ensure again.
            router.store.runs.release(run_id)
    except BaseException:
        router.gates.release_run(run_id)
        if gate is not None:
            gate.release(run_id)
        raise
    cpu_before = _cpu_seconds(router, current) if gate is not None else None
    lease = RunLease(session=current, run_id=run_id, started_at=now)

    def cancelled(reason: str, at: float) -> None:
        lease.cancel_requested_at = at
        if on_cancel is not None:
            on_cancel(reason)

    outcome = RunState.FAILED
    on_beat = _keep_alive(router, current)
    try:
        with router.keepalive.run(run_id, cancelled, on_beat):
            yield lease
        outcome = lease.outcome
    except (KeyboardInterrupt, GeneratorExit):
        outcome = RunState.CANCELLED
        raise
    finally:
        end = router.clock.now()
        if lease.cancel_requested_at is not None and outcome == RunState.CANCELLED:
            end = min(end, lease.cancel_requested_at)  # metering stops at the flip
        if lease.deadline is not None:
            end = min(end, lease.deadline)  # nor beyond the run's ceiling
        router.store.runs.finish(run_id, state=outcome, now=end, session_id=session.id)
        if gate is not None:
            cpu_after = _cpu_seconds(router, current)
            used = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
            gate.settle(run_id, cpu_seconds=used)


def _admit(
    router: ComputeRouter,
    key: SessionKey,
    *,
    run_id: str,
    agent_id: str,
    providers: Sequence[str],
) -> None:
    """Gates first, nothing touched yet: the kill switch, then the user's run permit, then
    credit. Each refusal leaves nothing behind."""
    router.gates.admit(key.user_id, providers)
    live = router.store.sessions.find_live(key)
    if live is not None:
        router.gates.require_provider(live.provider)
    router.gates.reserve_run(run_id=run_id, user_id=key.user_id)
    try:
        if router.credit_gate is not None:
            router.credit_gate.reserve(
                user_id=key.user_id, sandbox_id=key.sandbox_id, agent_id=agent_id, run_id=run_id
            )
    except BaseException:
        router.gates.release_run(run_id)
        raise


def _cpu_seconds(router: ComputeRouter, record: SessionRecord) -> float | None:
    """The instance's CPU time so far (cgroup, on ``local``), for the record; ``None`` when
    the provider cannot tell."""
    if record.instance_id is None:
        return None
    try:
        return router.provider(record.provider).usage(record.instance_id).cpu_seconds
    except (ComputeRouterError, NotImplementedError):
        return None
