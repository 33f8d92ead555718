"""A sandbox's settings: ``/v1/sandboxes/{sandbox_id}/settings``: its idle-suspend and archive
windows and runtime ceilings, each ``null`` when it falls back to the server's default (sent
alongside). A sandbox id names one of the acting user's sandboxes: another user's settings
are out of reach (an admin key acts for a user with ``X-Computerouter-User``)."""

from __future__ import annotations

from fastapi import APIRouter

from computerouter.api.deps import ActingUser, Server
from computerouter.compute.sandbox_settings import lifecycle_defaults, put_sandbox_settings
from computerouter.domain.session import SandboxSettings
from computerouter.domain.values import SessionKey
from computerouter.wire.session_io import SandboxSettingsIn, SandboxSettingsOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/sandboxes", tags=["compute"])


@router.get("/{sandbox_id}/settings")
def sandbox_settings(sandbox_id: str, user: ActingUser, parts: Server) -> SandboxSettingsOut:
    """The sandbox's lifecycle windows and runtime ceilings, and the defaults of those unset."""
    compute = parts.agents.compute
    found = compute.store.sandboxes.get(SessionKey(user_id=user, sandbox_id=sandbox_id))
    return SandboxSettingsOut.from_settings(found, lifecycle_defaults(compute.settings))


@router.put("/{sandbox_id}/settings")
def put_settings(
    sandbox_id: str, body: SandboxSettingsIn, user: ActingUser, parts: Server
) -> SandboxSettingsOut:
    """Set the sandbox's settings whole (a field left out or ``null``: the default). The
    archive window is not shorter than the idle-suspend one, defaults filled in."""
    compute = parts.agents.compute
    key = SessionKey(user_id=user, sandbox_id=sandbox_id)
    wanted = SandboxSettings(
        user_id=key.user_id,
        sandbox_id=key.sandbox_id,
        idle_suspend_s=body.idle_suspend_s,
        archive_after_s=body.archive_after_s,
        max_run_s=body.max_run_s,
        max_uptime_s=body.max_uptime_s,
    )
    defaults = lifecycle_defaults(compute.settings)
    put_sandbox_settings(compute.store, wanted, defaults)
    return SandboxSettingsOut.from_settings(wanted, defaults)
