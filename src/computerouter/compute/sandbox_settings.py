"""A sandbox's lifecycle windows and runtime ceilings: read with the defaults they fall back
to, and written whole once they make sense together (a session suspends before it archives).

The CLI (embedded) and the API (``/v1/sandboxes/{id}/settings``) read and write them here.
"""

from __future__ import annotations

from computerouter.config import Settings
from computerouter.domain.ceilings import check_ceiling
from computerouter.domain.limits import check_duration
from computerouter.domain.session import LifecycleDefaults, SandboxSettings
from computerouter.domain.values import SessionKey
from computerouter.errors import InputError
from computerouter.store import Store

__all__ = ["check_sandbox_settings", "lifecycle_defaults", "put_sandbox_settings"]


def lifecycle_defaults(settings: Settings) -> LifecycleDefaults:
    """What a sandbox's unset windows and ceilings are: the router's own settings."""
    return LifecycleDefaults(
        idle_suspend_s=settings.idle_suspend_s,
        archive_after_s=settings.archive_after_s,
        max_run_s=settings.max_run_s,
        max_uptime_s=settings.max_uptime_s,
    )


def check_sandbox_settings(wanted: SandboxSettings, defaults: LifecycleDefaults) -> None:
    """Refuse (:class:`InputError`, one line) windows or ceilings out of range, or an archive
    window shorter than the idle-suspend one once the defaults fill what is unset."""
    if wanted.idle_suspend_s is not None:
        check_duration(wanted.idle_suspend_s, what="idle_suspend_s", positive=True)
    if wanted.archive_after_s is not None:
        check_duration(wanted.archive_after_s, what="archive_after_s")
    for name, value in (("max_run_s", wanted.max_run_s), ("max_uptime_s", wanted.max_uptime_s)):
        if value is not None:
            check_ceiling(value, what=name)
    idle = defaults.idle_suspend_s if wanted.idle_suspend_s is None else wanted.idle_suspend_s
    archive = defaults.archive_after_s if wanted.archive_after_s is None else wanted.archive_after_s
    if archive < idle:
        raise InputError(
            f"archive_after_s ({archive:g} s) is shorter than idle_suspend_s ({idle:g} s); "
            f"a session suspends before it archives"
        )


def put_sandbox_settings(
    store: Store, wanted: SandboxSettings, defaults: LifecycleDefaults
) -> None:
    """Write a sandbox's settings whole (``None``: the default), once they are checked."""
    SessionKey(user_id=wanted.user_id, sandbox_id=wanted.sandbox_id)  # refuses a bad id
    check_sandbox_settings(wanted, defaults)
    store.sandboxes.put(wanted)
