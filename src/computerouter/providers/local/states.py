"""Local facts -> :class:`InstanceState`, in one pure function.

The record says what the provider last meant to do; the machine says what is true now (a
process tree may have died, a host may have rebooted, an operation may have crashed halfway).
Facts win, the record breaks ties.
"""

from __future__ import annotations

from dataclasses import dataclass

from computerouter.domain.instances import InstanceState
from computerouter.providers.local.metadata import RecordedState

__all__ = ["LocalFacts", "instance_state"]


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalFacts:
    recorded: RecordedState | None
    """None: no readable record (a stray cgroup or a directory made just before a crash)."""
    alive: bool
    """Some process of the instance's tree exists."""
    frozen: bool
    """The tree is frozen (cgroup freezer, or stopped by signal in the fallback)."""
    workspace: bool
    """The workspace directory exists."""
    archive: bool
    """A complete archive exists."""


def instance_state(facts: LocalFacts) -> InstanceState:
    recorded = facts.recorded
    if recorded is None or recorded is RecordedState.CREATING:
        # Partly made: either still starting or left by a crash; the caller adopts or reaps it.
        return InstanceState.CREATING
    if recorded is RecordedState.DESTROYING:
        return InstanceState.UNKNOWN
    if recorded is RecordedState.RESTORING:
        # The archive is authoritative until the restored runtime is recorded running.
        if facts.alive:
            return InstanceState.CREATING
        return InstanceState.ARCHIVED if facts.archive else InstanceState.UNKNOWN
    if recorded is RecordedState.ARCHIVED:
        # Recorded only once the archive is complete: processes or a workspace still here are
        # leftovers of an archive that stopped short of cleaning up (``archive`` finishes it).
        return InstanceState.ARCHIVED if facts.archive else InstanceState.UNKNOWN
    if facts.alive:
        # Whatever was recorded, live processes are running or frozen; an archive that
        # crashed before it was recorded left the tree serving.
        return InstanceState.SUSPENDED if facts.frozen else InstanceState.RUNNING
    if facts.workspace:
        # No process but the workspace is still authoritative (host restart, killed tree).
        return InstanceState.STOPPED
    if facts.archive:
        return InstanceState.ARCHIVED
    return InstanceState.UNKNOWN
