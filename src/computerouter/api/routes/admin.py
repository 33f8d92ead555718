"""Admin operations (admin keys only): the kill switch by scope, audited like the CLI's
``compute pause|unpause|pauses``."""

from __future__ import annotations

from fastapi import APIRouter

from computerouter.api.deps import Admin, Server
from computerouter.domain.gates import Pause, PauseMode, PauseScope, ScopeKind
from computerouter.errors import InputError
from computerouter.wire.models import PauseIn, PauseOut, UnpauseIn
from computerouter.wire.reports import PauseEventOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/admin", tags=["admin"])


def _scope(parts: Server, text: str) -> PauseScope:
    scope = PauseScope.parse(text)
    if scope.kind is ScopeKind.PROVIDER:
        parts.agents.compute.provider(scope.target)  # an unknown provider is bad input
    return scope


@router.get("/pauses")
def list_pauses(_admin: Admin, parts: Server) -> list[PauseOut]:
    """The pauses in force."""
    return [
        PauseOut(scope=p.scope.key, mode=p.mode.value, reason=p.reason, actor=p.actor, at=p.at)
        for p in parts.agents.compute.gates.pauses(fresh=True)
    ]


@router.get("/pauses/history")
def pause_history(_admin: Admin, parts: Server) -> list[PauseEventOut]:
    """The audit trail: who paused and unpaused what, when and why (the latest 100)."""
    return [PauseEventOut.from_event(e) for e in parts.agents.compute.gates.store.events()]


@router.post("/pauses", status_code=201)
def pause(body: PauseIn, admin: Admin, parts: Server) -> PauseOut:
    """Stop new runs in a scope at once (``now``: cancel its runs in flight too)."""
    compute = parts.agents.compute
    paused = Pause(
        scope=_scope(parts, body.scope),
        mode=PauseMode(body.mode),
        reason=body.reason,
        actor=f"api key {admin.key_id} ({admin.user_id})",
        at=compute.clock.now(),
    )
    cancelled = compute.gates.pause(paused)
    return PauseOut(
        scope=paused.scope.key,
        mode=paused.mode.value,
        reason=paused.reason,
        actor=paused.actor,
        at=paused.at,
        cancelled_runs=list(cancelled),
    )


@router.post("/unpause")
def unpause(body: UnpauseIn, admin: Admin, parts: Server) -> list[PauseOut]:
    """Lift the pause of a scope; the pauses still in force come back."""
    if not body.reason.strip():
        raise InputError("an unpause needs a reason: it goes in the audit trail")
    scope = _scope(parts, body.scope)
    actor = f"api key {admin.key_id} ({admin.user_id})"
    if not parts.agents.compute.gates.unpause(scope, reason=body.reason, actor=actor):
        raise InputError(f"{scope} is not paused")
    return list_pauses(admin, parts)
