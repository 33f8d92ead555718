"""Reading one instance from what is on this machine: record, process tree, workspace, archive.

Nothing here writes: :func:`observe` derives the state from the facts (see :mod:`.states`),
:func:`footprint` lists everything the instance still holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from computerouter.domain.instances import Instance, InstanceState
from computerouter.domain.values import Endpoint, Labels
from computerouter.errors import InstanceNotFound
from computerouter.providers.local.archive import find_archive
from computerouter.providers.local.errors import PROVIDER
from computerouter.providers.local.layout import Layout
from computerouter.providers.local.metadata import InstanceRecord, read_record
from computerouter.providers.local.states import LocalFacts, instance_state

__all__ = [
    "Footprint",
    "footprint",
    "observe",
    "recorded_instance",
    "require_observed",
    "require_record",
]

_UNKNOWN_LABELS = Labels(session_id="", user_id="", sandbox_id="")


@dataclass(frozen=True, kw_only=True, slots=True)
class Footprint:
    """What one instance currently holds on this machine (operators' view; tests use it)."""

    pids: tuple[int, ...]
    cgroups: tuple[Path, ...]
    paths: tuple[Path, ...]
    """Instance directory, socket directory and archive, where they exist."""

    @property
    def empty(self) -> bool:
        return not (self.pids or self.cgroups or self.paths)


def footprint(layout: Layout, instance_id: str) -> Footprint:
    """Everything the instance holds now: processes, cgroups, directories, archive."""
    paths = layout.paths(instance_id)
    cgroups: tuple[Path, ...] = ()
    if layout.cgroups is not None:
        name = layout.cgroup_name(instance_id)
        cgroups = tuple(d for d in layout.cgroups.dirs(name) if d.is_dir())
    archive = find_archive(paths.archive_stem)
    candidates = [paths.dir, paths.sock_dir, *([archive] if archive else [])]
    return Footprint(
        pids=tuple(layout.tree(instance_id).pids()),
        cgroups=cgroups,
        paths=tuple(p for p in candidates if os.path.lexists(p)),
    )


def observe(layout: Layout, instance_id: str) -> Instance | None:
    paths = layout.paths(instance_id)
    record = read_record(paths)
    tree = layout.tree(instance_id)
    has_dir = paths.dir.is_dir()
    if record is None and not has_dir and not tree.exists():
        return None
    alive = bool(tree.pids())
    facts = LocalFacts(
        recorded=record.state if record else None,
        alive=alive,
        frozen=alive and tree.frozen(),
        workspace=paths.workspace.is_dir(),
        archive=find_archive(paths.archive_stem) is not None,
    )
    state = instance_state(facts)
    serving = state in (InstanceState.RUNNING, InstanceState.SUSPENDED, InstanceState.CREATING)
    return Instance(
        instance_id=instance_id,
        provider=PROVIDER,
        state=state,
        labels=record.labels if record else _UNKNOWN_LABELS,
        endpoint=Endpoint(kind="unix", address=str(paths.socket)) if serving else None,
        archive_retained=facts.archive
        and state in (InstanceState.RUNNING, InstanceState.SUSPENDED, InstanceState.STOPPED),
        pooled=record.pooled if record else False,
    )


def recorded_instance(layout: Layout, record: InstanceRecord, state: InstanceState) -> Instance:
    """The instance in ``state``, from its record alone (no re-observation)."""
    socket = layout.paths(record.instance_id).socket
    return Instance(
        instance_id=record.instance_id,
        provider=PROVIDER,
        state=state,
        labels=record.labels,
        endpoint=Endpoint(kind="unix", address=str(socket)),
    )


def require_observed(layout: Layout, instance_id: str) -> Instance:
    instance = observe(layout, instance_id)
    if instance is None:
        raise InstanceNotFound(provider=PROVIDER, instance_id=instance_id)
    return instance


def require_record(layout: Layout, instance_id: str) -> InstanceRecord:
    record = read_record(layout.paths(instance_id))
    if record is None:
        raise InstanceNotFound(provider=PROVIDER, instance_id=instance_id)
    return record
