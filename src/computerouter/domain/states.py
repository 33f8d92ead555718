"""Session lifecycle states and the one table of legal transitions.

Every state change in the product goes through :func:`require_transition` and is then written
as a compare-and-set in the store (``UPDATE ... WHERE state = :expected``), never blindly.
"""

from __future__ import annotations

import enum

from computerouter.errors import InvalidTransition

__all__ = [
    "LIVE_STATES",
    "SETTLED_STATES",
    "TRANSITIONAL_STATES",
    "TRANSITIONS",
    "SessionState",
    "can_transition",
    "require_transition",
]


class SessionState(enum.StrEnum):
    """Where one compute session is in its life."""

    PROVISIONING = "provisioning"
    """The provider is creating the instance and the runtime is starting; not yet usable."""
    RUNNING = "running"
    """The instance is up and its runtime answers; runs can use it. Billed as running time."""
    SUSPENDING = "suspending"
    """The instance is being frozen (idle suspend or an operator's request)."""
    SUSPENDED = "suspended"
    """Frozen in place: memory kept, no CPU used, resumes in milliseconds. Not running time."""
    ARCHIVING = "archiving"
    """The runtime is being stopped and its workspace packed into an archive."""
    ARCHIVED = "archived"
    """Nothing runs; only the archived workspace remains. Restores on the next invocation."""
    RESUMING = "resuming"
    """Coming back from suspended (thaw) or archived (restore + start)."""
    DESTROYING = "destroying"
    """Being torn down: processes killed, every resource the provider made removed."""
    DESTROYED = "destroyed"
    """Gone for good. Terminal. Kept as history; no longer holds the (user, sandbox) slot."""
    FAILED = "failed"
    """Something broke beyond automatic repair. Holds no slot. Whatever workspace it had is
    kept as an archive (never deleted but by ``destroy``); ``recover`` makes it ``archived``."""


S = SessionState

TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    S.PROVISIONING: frozenset({S.RUNNING, S.FAILED, S.DESTROYING}),
    S.RUNNING: frozenset({S.SUSPENDING, S.ARCHIVING, S.DESTROYING, S.FAILED}),
    # A suspend, archive or resume that the provider refuses rolls back to where it started.
    # An interrupted suspend whose processes are gone is archived by whoever finds it.
    S.SUSPENDING: frozenset({S.SUSPENDED, S.RUNNING, S.ARCHIVED, S.DESTROYING, S.FAILED}),
    S.SUSPENDED: frozenset({S.RESUMING, S.ARCHIVING, S.DESTROYING, S.FAILED}),
    S.ARCHIVING: frozenset({S.ARCHIVED, S.RUNNING, S.SUSPENDED, S.DESTROYING, S.FAILED}),
    S.ARCHIVED: frozenset({S.RESUMING, S.DESTROYING, S.FAILED}),
    S.RESUMING: frozenset({S.RUNNING, S.SUSPENDED, S.ARCHIVED, S.DESTROYING, S.FAILED}),
    S.DESTROYING: frozenset({S.DESTROYED, S.FAILED}),
    # A failed session whose workspace is kept as an archive can be recovered by an operator.
    S.FAILED: frozenset({S.DESTROYING, S.DESTROYED, S.ARCHIVED}),
    S.DESTROYED: frozenset(),
}

TRANSITIONAL_STATES = frozenset(
    {S.PROVISIONING, S.SUSPENDING, S.ARCHIVING, S.RESUMING, S.DESTROYING}
)
"""States an operation is in the middle of; the row carries a lease held by its owner."""

SETTLED_STATES = frozenset({S.RUNNING, S.SUSPENDED, S.ARCHIVED, S.DESTROYED, S.FAILED})

LIVE_STATES = frozenset(SessionState) - {S.DESTROYED, S.FAILED}
"""States that hold the single slot of a (user_id, sandbox_id) key."""


def can_transition(current: SessionState, target: SessionState) -> bool:
    return target in TRANSITIONS[current]


def require_transition(current: SessionState, target: SessionState, *, session_id: str) -> None:
    """Raise :class:`InvalidTransition` unless ``current -> target`` is in the table."""
    if not can_transition(current, target):
        raise InvalidTransition(session_id=session_id, current=current.value, target=target.value)
