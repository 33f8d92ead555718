"""Daytona's sandbox states -> :class:`InstanceState`, in one pure function.

Our ``suspend`` is Daytona's *stop* (the filesystem stays on the runner, start takes well under
a second), our ``archive`` is Daytona's *archive* (the filesystem moves to object storage) and
``resume`` / ``restore`` are both Daytona's *start*. A state on the way to another is reported
as the state it leaves the sandbox fit for: a sandbox that is starting is not serving yet
(``CREATING``), one that is stopping or archiving no longer serves (``SUSPENDED``, the archive
being incomplete until Daytona says ``archived``).
"""

from __future__ import annotations

from computerouter.domain.instances import InstanceState

__all__ = ["GONE", "instance_state"]

GONE = frozenset({"destroying", "destroyed"})
"""States of a sandbox that no longer counts as held: ``get`` reports it as absent."""

_STATES: dict[str, InstanceState | None] = {
    # Being made or brought back: resources exist, the runtime is not serving yet.
    "creating": InstanceState.CREATING,
    "pending_build": InstanceState.CREATING,
    "building_snapshot": InstanceState.CREATING,
    "pulling_snapshot": InstanceState.CREATING,
    "starting": InstanceState.CREATING,
    "restoring": InstanceState.CREATING,
    "resuming": InstanceState.CREATING,
    # Processes run; resizing, snapshotting and forking happen with the sandbox up.
    "started": InstanceState.RUNNING,
    "resizing": InstanceState.RUNNING,
    "snapshotting": InstanceState.RUNNING,
    "forking": InstanceState.RUNNING,
    # Stopped or paused in place: the filesystem is on the runner, a start brings it back.
    "stopping": InstanceState.SUSPENDED,
    "stopped": InstanceState.SUSPENDED,
    "pausing": InstanceState.SUSPENDED,
    "paused": InstanceState.SUSPENDED,
    "archiving": InstanceState.SUSPENDED,
    "archived": InstanceState.ARCHIVED,
    # Failed, or something this SDK version cannot name: the reconciler decides.
    "error": InstanceState.UNKNOWN,
    "build_failed": InstanceState.UNKNOWN,
    "unknown": InstanceState.UNKNOWN,
    "unknown_default_open_api": InstanceState.UNKNOWN,
    # Gone.
    "destroying": None,
    "destroyed": None,
}


def instance_state(state: str | None) -> InstanceState | None:
    """The neutral state of a sandbox in Daytona state ``state`` (a ``SandboxState`` value);
    ``None`` when the sandbox is gone or going. A state the table does not know is ``UNKNOWN``."""
    if state is None:
        return InstanceState.UNKNOWN
    value = getattr(state, "value", state)
    return _STATES.get(str(value), InstanceState.UNKNOWN)
