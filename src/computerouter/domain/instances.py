"""What a provider reports about one instance, in the provider-neutral vocabulary.

Each provider maps its vendor's states into :class:`InstanceState` in one pure function, at its
boundary; nothing above the provider layer sees a vendor state.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from computerouter.domain.values import Endpoint, Labels

__all__ = ["ExecResult", "Instance", "InstanceState", "InstanceUsage"]


class InstanceState(enum.StrEnum):
    """An instance as its provider sees it."""

    CREATING = "creating"
    """Partly made: resources exist but the runtime is not (yet) serving."""
    RUNNING = "running"
    """Processes are running (the runtime may or may not answer yet)."""
    SUSPENDED = "suspended"
    """Frozen in place."""
    ARCHIVED = "archived"
    """Stopped; only the archived workspace remains."""
    STOPPED = "stopped"
    """No process runs, but the workspace is still on disk (e.g. after a host restart)."""
    UNKNOWN = "unknown"
    """The provider reports something it cannot classify."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Instance:
    instance_id: str
    provider: str
    state: InstanceState
    labels: Labels
    endpoint: Endpoint | None = None
    region: str = ""
    archive_retained: bool = False
    """An archive is still kept beside a live workspace: the copy a restore started from,
    held until the restored session is recorded running (``Provider.release_archive``)."""
    pooled: bool = False
    """Waiting in the provider's warm pool: booted for a session that does not exist yet,
    claimed by no one (see :class:`~computerouter.providers.base.WarmPool`)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class InstanceUsage:
    """Resource use of one instance so far, as the provider measures it."""

    cpu_seconds: float
    memory_bytes: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str
