"""Where one provider root keeps each instance: its paths, cgroup, process tree and uid.

Every process using the same (resolved) root derives the same names from it, so a CLI command
and a server on one root find the same instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from computerouter.providers.local.cgroups import CgroupBackend
from computerouter.providers.local.host import LocalHost
from computerouter.providers.local.metadata import InstancePaths, InstanceRecord
from computerouter.providers.local.sandbox import SandboxMode
from computerouter.providers.local.tree import CgroupTree, ProcessGroupTree, ProcessTree

__all__ = ["Layout"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Layout:
    """One provider root on one host (see :class:`~.provider.LocalProvider`)."""

    root: Path
    host: LocalHost
    cgroups: CgroupBackend | None
    scope: str
    merge_seed: str = ""
    """Sessions run under same-page merging with this hash seed ('': not; see
    :mod:`.merging`)."""

    def paths(self, instance_id: str) -> InstancePaths:
        return InstancePaths.of(self.root, instance_id)

    def cgroup_parent(self) -> str:
        return f"computerouter/{self.scope}"

    def cgroup_name(self, instance_id: str) -> str:
        return f"{self.cgroup_parent()}/{instance_id}"

    def tree(self, instance_id: str) -> ProcessTree:
        if self.cgroups is not None:
            return CgroupTree(self.cgroups, self.cgroup_name(instance_id))
        return ProcessGroupTree(self.paths(instance_id).pidfile)

    def dedicated_uids(self, mode: SandboxMode) -> bool:
        # Unisolated sessions run plainly as the operator: a dedicated uid could not even
        # reach host paths under a private home.
        return self.host.is_root and mode is not SandboxMode.NONE

    def switch_uid(self, record: InstanceRecord) -> int | None:
        return record.uid if self.dedicated_uids(SandboxMode(record.sandbox)) else None
