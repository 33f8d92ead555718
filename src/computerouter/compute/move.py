"""Moving a session to another provider while its own is down.

An archived session whose provider cannot restore it (its circuit is open, or the restore just
failed with a retryable error), asked for by an agent whose ``on_provider_down`` is ``move``,
is started on the next of that agent's candidates that can take a workspace, from the portable
copy the router kept when it was archived (:mod:`.portable`); the next turn remembers the ones
before.

Write-ahead, like a restore: the session is claimed (``resuming``) on its old provider, the new
instance made from the copy, and only when the session is recorded on the new provider is the
copy dropped. The old provider's archive is left where it is: once that provider answers again,
the reconciler finds an instance whose session lives elsewhere and destroys it. A crash before
the session is recorded moved leaves it on its old provider with its archive and its copy (the
reconciler finishes the abandoned claim once that provider answers; the half-made instance on
the new one is then an orphan, destroyed), so nothing is lost or kept twice.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from computerouter.domain.session import SessionRecord
from computerouter.domain.states import SessionState
from computerouter.errors import (
    ComputeRouterError,
    FailoverAttempt,
    ProviderError,
    SessionUnavailable,
)
from computerouter.faults import failpoint
from computerouter.providers.base import WorkspaceTransfer
from computerouter.store import Transition

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter

__all__ = ["move_session", "revive_or_move"]

S = SessionState


def move_session(
    router: ComputeRouter,
    record: SessionRecord,
    candidates: tuple[tuple[str, str], ...],
    *,
    copy: Path,
    why: str,
) -> SessionRecord:
    """Start archived ``record`` on the first of ``candidates`` (other than its own provider)
    that can take it, from ``copy``. Raises StaleState if beaten to the claim."""
    origin = record.provider
    history = [FailoverAttempt(provider=origin, error_code="provider_down", message=why)]
    claimed = router._claim(record, S.RESUMING, reason=f"moving off {origin}: {why}"[:1000])
    failpoint("move.claimed")
    for name, region in candidates:
        if name == origin:
            continue
        provider = router.provider(name)
        if not isinstance(provider, WorkspaceTransfer):
            history.append(
                FailoverAttempt(
                    provider=name, error_code="no_transfer", message="cannot take a workspace"
                )
            )
            continue
        if not router.health.available(name, now=router.clock.now(), region=region):
            history.append(
                FailoverAttempt(provider=name, error_code="cooling_down", message="failed recently")
            )
            continue
        spec = replace(router.instance_spec(claimed), region=region)
        try:
            with router.keepalive.lease(claimed.id):
                instance = provider.create_from_workspace(spec, copy)
        except ComputeRouterError as exc:
            history.append(
                FailoverAttempt(
                    provider=name, error_code=exc.code, message=str(exc), retryable=exc.retryable
                )
            )
            if not exc.retryable:
                router._rollback(claimed, S.RESUMING, S.ARCHIVED, exc)
                raise SessionUnavailable(
                    f"session {record.id} could not move to {name}: {exc}",
                    failover_history=history,
                    retryable=False,
                ) from exc
            router.health.failed(
                name,
                now=router.clock.now(),
                region=region,
                retry_after_s=exc.retry_after_s if isinstance(exc, ProviderError) else None,
                error=str(exc),
            )
            continue
        failpoint("move.created")
        router.health.succeeded(name, region=region)
        moved = router._settle(
            claimed,
            S.RESUMING,
            S.RUNNING,
            Transition(
                provider=name,
                region=region,
                instance_id=instance.instance_id,
                endpoint=instance.endpoint,
                release_lease=True,
                touch=True,
                reason=f"moved from {origin} to {name} ({why})"[:1000],
            ),
        )
        failpoint("move.recorded")
        router.copies.drop(record.id)
        return moved
    router._rollback(claimed, S.RESUMING, S.ARCHIVED, None)
    tried = ", ".join(f"{a.provider} ({a.message})" for a in history)
    raise SessionUnavailable(
        f"session {record.id} cannot come back: its provider is down and no other could take "
        f"it: {tried}",
        failover_history=history,
    )


def revive_or_move(
    router: ComputeRouter,
    record: SessionRecord,
    candidates: tuple[tuple[str, str], ...] | None,
) -> SessionRecord:
    """Revive ``record`` where it is; with ``candidates`` (its agent lets it move), an
    archived session whose provider is known to be down, or whose restore fails with a
    retryable error, moves instead when the router kept a copy of its workspace."""
    copy = router.copies.usable(record) if candidates is not None else None
    if copy is None or candidates is None:
        return router._revive(record)
    now = router.clock.now()
    if not router.health.available(record.provider, now=now, region=record.region):
        # Known down: no call to it (calls to a dead provider stay bounded).
        return move_session(router, record, candidates, copy=copy, why="its circuit is open")
    try:
        return router._revive(record)
    except SessionUnavailable as exc:
        cause = exc.__cause__
        if not isinstance(cause, ComputeRouterError) or not cause.retryable:
            raise
        router.health.failed(
            record.provider,
            now=router.clock.now(),
            region=record.region,
            retry_after_s=cause.retry_after_s if isinstance(cause, ProviderError) else None,
            error=str(cause),
        )
        current = router.get(record.id)
        if current.state is not S.ARCHIVED:
            raise
        return move_session(router, current, candidates, copy=copy, why=str(cause))
