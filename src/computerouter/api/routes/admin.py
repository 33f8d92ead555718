"""Admin operations (admin keys only): the kill switch by scope, audited like the CLI's
``compute pause|unpause|pauses``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from computerouter.api.deps import Admin, Server
from computerouter.domain.gates import Pause, PauseMode, PauseScope, ScopeKind
from computerouter.errors import InputError

__all__ = ["router"]

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: str = Field(description="`global`, `user:U` or `provider:P`.", max_length=200)
    mode: Literal["drain", "now"] = "drain"
    reason: str = Field(max_length=2000)


class UnpauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: str = Field(max_length=200)
    reason: str = Field(max_length=2000)


class PauseOut(BaseModel):
    scope: str
    mode: str
    reason: str
    actor: str
    at: float
    cancelled_runs: list[str] = Field(default_factory=list)


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
