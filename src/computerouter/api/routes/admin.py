"""Admin operations (admin keys only): the kill switch by scope, audited like the CLI's
``compute pause|unpause|pauses``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from computerouter.api.deps import Admin, Server
from computerouter.domain.gates import Pause, PauseMode, PauseScope, ScopeKind
from computerouter.errors import InputError
from computerouter.wire.models import PauseEventOut, PauseIn, PauseOut, UnpauseIn

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
    return [PauseOut.from_pause(p) for p in parts.agents.compute.gates.pauses(fresh=True)]


@router.get("/pauses/history")
def pause_history(
    _admin: Admin, parts: Server, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[PauseEventOut]:
    """The kill switch's audit trail, oldest first: who paused and unpaused what, when, why."""
    events = parts.agents.compute.gates.store.events(limit=limit)
    return [PauseEventOut.from_event(e) for e in events]


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
    return PauseOut.from_pause(paused, compute.gates.pause(paused))


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
