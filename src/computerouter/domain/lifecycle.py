"""What the reaper should do with one session: a pure decision from its record and the time."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from computerouter.domain.session import SessionRecord
from computerouter.domain.states import SessionState

__all__ = ["LifecycleAction", "LifecyclePolicy", "decide"]


class LifecycleAction(enum.StrEnum):
    NONE = "none"
    SUSPEND = "suspend"
    ARCHIVE = "archive"


@dataclass(frozen=True, kw_only=True, slots=True)
class LifecyclePolicy:
    idle_suspend_s: float = 15 * 60
    archive_after_s: float = 7 * 24 * 3600


def decide(
    session: SessionRecord,
    *,
    now: float,
    policy: LifecyclePolicy,
    runs_in_flight: int,
    can_suspend: bool = True,
    can_archive: bool = True,
) -> LifecycleAction:
    """Idle ``archive_after_s`` → archive; idle ``idle_suspend_s`` → suspend; else nothing.

    A session with a run in flight is never touched: its idle clock is not even running.
    A provider that cannot archive keeps the session suspended; one that cannot suspend but
    can archive goes straight to archive once the suspend window has passed.
    """
    if runs_in_flight > 0:
        return LifecycleAction.NONE
    idle = session.idle_for(now)
    settled = session.state in (SessionState.RUNNING, SessionState.SUSPENDED)
    if settled and can_archive and idle >= policy.archive_after_s:
        return LifecycleAction.ARCHIVE
    if session.state is SessionState.RUNNING and idle >= policy.idle_suspend_s:
        if can_suspend:
            return LifecycleAction.SUSPEND
        if can_archive:
            return LifecycleAction.ARCHIVE
    return LifecycleAction.NONE
