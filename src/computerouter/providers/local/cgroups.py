"""Control groups of local sessions: limits, CPU accounting, freeze and kill for a whole tree.

Two backends, picked by what is mounted (:func:`detect_cgroups`):

- :class:`HybridCgroups` for hosts with cgroup v1 controllers (``/sys/fs/cgroup/{cpu,memory,...}``),
  optionally next to a controller-less cgroup2 (``/sys/fs/cgroup/unified``). Limits and
  accounting come from v1; freeze, kill and ``cpu.stat`` from the cgroup2 group when there is
  one (atomic for the tree, immune to fork races), else from the v1 freezer.
- :class:`UnifiedCgroups` for pure cgroup2 hosts: ``cpu.max``, ``memory.max``, ``pids.max``
  after enabling the controllers in each ancestor's ``cgroup.subtree_control``.

A group is named by a relative path (``computerouter/<scope>/<instance_id>``) that exists in
every hierarchy the backend uses. Processes join by writing their pid to each ``join_files``
entry before they exec, so nothing in a session's tree ever runs outside its groups.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from computerouter.domain.values import Resources
from computerouter.errors import ProviderError

__all__ = [
    "CgroupBackend",
    "CgroupMounts",
    "HybridCgroups",
    "UnifiedCgroups",
    "detect_cgroups",
    "kernel_version",
]

_KNOWN_V1 = frozenset(
    {
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "net_cls",
        "blkio",
        "perf_event",
        "net_prio",
        "hugetlb",
        "pids",
        "rdma",
        "misc",
    }
)
_CFS_PERIOD_US = 100_000
_MIB = 1024 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class CgroupMounts:
    """What cgroup filesystems are mounted where (parsed from ``/proc/mounts``)."""

    v1: tuple[tuple[str, str], ...] = ()
    """(controller, mount point) for every v1 controller mounted."""
    unified: str | None = None
    """Mount point of the cgroup2 hierarchy, if any."""

    @classmethod
    def parse(cls, proc_mounts: str) -> CgroupMounts:
        v1: list[tuple[str, str]] = []
        unified: str | None = None
        for line in proc_mounts.splitlines():
            fields = line.split()
            if len(fields) < 4:
                continue
            mountpoint, fstype, options = fields[1], fields[2], fields[3].split(",")
            if fstype == "cgroup2" and unified is None:
                unified = mountpoint
            elif fstype == "cgroup":
                v1 += [(c, mountpoint) for c in options if c in _KNOWN_V1]
        return cls(v1=tuple(v1), unified=unified)

    @classmethod
    def read(cls) -> CgroupMounts:
        try:
            with open("/proc/mounts") as fh:
                return cls.parse(fh.read())
        except OSError:
            return cls()

    def v1_path(self, controller: str) -> Path | None:
        return next((Path(mp) for c, mp in self.v1 if c == controller), None)


class CgroupBackend(Protocol):
    kind: str

    def create(self, name: str, resources: Resources) -> None: ...

    def join_files(self, name: str) -> list[Path]: ...

    def dirs(self, name: str) -> list[Path]: ...

    def exists(self, name: str) -> bool: ...

    def children(self, parent: str) -> list[str]: ...

    def pids(self, name: str) -> list[int]: ...

    def freeze(self, name: str, *, timeout_s: float = 5.0) -> None: ...

    def thaw(self, name: str) -> None: ...

    def frozen(self, name: str) -> bool: ...

    def kill(self, name: str, *, timeout_s: float = 10.0) -> None: ...

    def cpu_seconds(self, name: str) -> float: ...

    def memory_bytes(self, name: str) -> int: ...

    def squeeze(self, name: str) -> None:
        """Push what the (frozen) group holds in memory out to swap, as far as the kernel
        will; best effort, the group's limits as they were afterwards."""
        ...

    def remove(self, name: str) -> None: ...


_SQUEEZE_FLOOR = 2 * _MIB
"""The least a squeezed group's limit is stepped down to (what a frozen tree keeps resident)."""


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _read(path: Path) -> str:
    with open(path) as fh:
        return fh.read()


def _keyed(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in _read(path).splitlines():
        key, _, value = line.partition(" ")
        out[key] = value.strip()
    return out


def _mkdirs(base: Path, name: str) -> Path:
    target = base / name
    # A concurrent destroy may rmdir an empty parent between our mkdirs; try again.
    for _ in range(5):
        try:
            target.mkdir(parents=True, exist_ok=True)
            return target
        except FileNotFoundError:
            continue
    target.mkdir(parents=True, exist_ok=True)
    return target


class _Base:
    kind = "base"

    def __init__(self, *, hierarchies: Sequence[Path], unified: Path | None) -> None:
        self._hierarchies = tuple(dict.fromkeys(hierarchies))
        self._unified = unified
        self._can_kill = False
        self._can_freeze = False

    def _probe_unified(self) -> None:
        # Only child groups carry cgroup.freeze / cgroup.kill; the kernel version tells.
        major, minor = kernel_version()
        self._can_freeze = self._unified is not None and (major, minor) >= (5, 2)
        self._can_kill = self._unified is not None and (major, minor) >= (5, 14)

    @property
    def freezes_atomically(self) -> bool:
        return self._can_freeze

    def dirs(self, name: str) -> list[Path]:
        return [h / name for h in self._hierarchies]

    def join_files(self, name: str) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs(name)]

    def exists(self, name: str) -> bool:
        return any(d.is_dir() for d in self.dirs(name))

    def children(self, parent: str) -> list[str]:
        names: set[str] = set()
        for h in self._hierarchies:
            try:
                names.update(e.name for e in os.scandir(h / parent) if e.is_dir())
            except FileNotFoundError:
                continue
        return sorted(names)

    def pids(self, name: str) -> list[int]:
        found: set[int] = set()
        for procs in self.join_files(name):
            try:
                found.update(int(p) for p in _read(procs).split())
            except FileNotFoundError:
                continue
        return sorted(found)

    def _freeze_dir(self, name: str) -> Path | None:
        return self._unified / name if self._can_freeze and self._unified else None

    def freeze(self, name: str, *, timeout_s: float = 5.0) -> None:
        unified = self._freeze_dir(name)
        if unified is None:
            self._v1_freeze(name, timeout_s=timeout_s)
            return
        _write(unified / "cgroup.freeze", "1")
        deadline = time.monotonic() + timeout_s
        while _keyed(unified / "cgroup.events").get("frozen") != "1":
            if time.monotonic() > deadline:
                _write(unified / "cgroup.freeze", "0")
                raise ProviderError(
                    f"cgroup {name} did not freeze within {timeout_s:g}s",
                    provider="local",
                    retryable=True,
                )
            time.sleep(0.0002)

    def thaw(self, name: str) -> None:
        unified = self._freeze_dir(name)
        if unified is None:
            self._v1_thaw(name)
        elif unified.is_dir():
            _write(unified / "cgroup.freeze", "0")

    def frozen(self, name: str) -> bool:
        unified = self._freeze_dir(name)
        if unified is None:
            return self._v1_frozen(name)
        try:
            return _keyed(unified / "cgroup.events").get("frozen") == "1"
        except FileNotFoundError:
            return False

    def _v1_freeze(self, name: str, *, timeout_s: float) -> None:
        raise ProviderError("this host has no cgroup freezer", provider="local")

    def _v1_thaw(self, name: str) -> None:
        return None

    def _v1_frozen(self, name: str) -> bool:
        return False

    def kill(self, name: str, *, timeout_s: float = 10.0) -> None:
        if not self.exists(name):
            return
        unified = self._unified / name if self._unified is not None else None
        if self._can_kill and unified is not None and unified.is_dir():
            _write(unified / "cgroup.kill", "1")
        else:
            # Freeze first so nothing forks between reading the pids and signalling them.
            frozen = False
            try:
                self.freeze(name, timeout_s=2.0)
                frozen = True
            except (ProviderError, OSError):
                # No freezer group (a create killed before making it): signal unfrozen.
                pass
            for pid in self.pids(name):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if frozen:
                self.thaw(name)
        deadline = time.monotonic() + timeout_s
        while self.pids(name):
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"processes of cgroup {name} survived SIGKILL for {timeout_s:g}s",
                    provider="local",
                    retryable=True,
                )
            for pid in self.pids(name):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.001)

    def remove(self, name: str) -> None:
        for d in self.dirs(name):
            _rmdir_patiently(d)
            # Leave no empty scope behind; a busy parent (other sessions) stays.
            parent = d.parent
            for _ in range(name.count("/")):
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent


def _rmdir_patiently(path: Path, timeout_s: float = 5.0) -> None:
    """rmdir a cgroup; exiting tasks keep it busy for a moment after they leave cgroup.procs."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.002)


def kernel_version() -> tuple[int, int]:
    release = os.uname().release
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


class HybridCgroups(_Base):
    """cgroup v1 controllers for limits; the cgroup2 group (if mounted) for freeze and kill."""

    kind = "cgroup v1"

    def __init__(self, mounts: CgroupMounts) -> None:
        unified = Path(mounts.unified) if mounts.unified else None
        self._cpu = mounts.v1_path("cpu")
        self._cpuacct = mounts.v1_path("cpuacct")
        self._memory = mounts.v1_path("memory")
        self._pids = mounts.v1_path("pids")
        super().__init__(hierarchies=(), unified=unified)
        self._probe_unified()
        self._freezer = None if self._can_freeze else mounts.v1_path("freezer")
        hierarchies = [
            p
            for p in (self._cpu, self._cpuacct, self._memory, self._pids, self._freezer)
            if p is not None
        ]
        if unified is not None:
            hierarchies.append(unified)
            self.kind = "cgroup v1 + cgroup2"
        self._hierarchies = tuple(dict.fromkeys(hierarchies))

    def create(self, name: str, resources: Resources) -> None:
        for h in self._hierarchies:
            _mkdirs(h, name)
        if self._cpu is not None:
            _write(self._cpu / name / "cpu.cfs_period_us", str(_CFS_PERIOD_US))
            _write(self._cpu / name / "cpu.cfs_quota_us", str(int(resources.cpus * _CFS_PERIOD_US)))
        if self._memory is not None:
            limit = str(resources.memory_mb * _MIB)
            _write(self._memory / name / "memory.limit_in_bytes", limit)
            memsw = self._memory / name / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                _write(memsw, limit)
        if self._pids is not None:
            _write(self._pids / name / "pids.max", str(resources.pids))

    def _v1_freeze(self, name: str, *, timeout_s: float) -> None:
        if self._freezer is None:
            super()._v1_freeze(name, timeout_s=timeout_s)
            return
        state = self._freezer / name / "freezer.state"
        _write(state, "FROZEN")
        deadline = time.monotonic() + timeout_s
        while _read(state).strip() != "FROZEN":
            if time.monotonic() > deadline:
                _write(state, "THAWED")
                raise ProviderError(
                    f"cgroup {name} did not freeze within {timeout_s:g}s",
                    provider="local",
                    retryable=True,
                )
            time.sleep(0.0002)

    def _v1_thaw(self, name: str) -> None:
        if self._freezer is not None and (self._freezer / name).is_dir():
            _write(self._freezer / name / "freezer.state", "THAWED")

    def _v1_frozen(self, name: str) -> bool:
        if self._freezer is None:
            return False
        try:
            return _read(self._freezer / name / "freezer.state").strip() == "FROZEN"
        except FileNotFoundError:
            return False

    def cpu_seconds(self, name: str) -> float:
        try:
            if self._unified is not None:
                usec = _keyed(self._unified / name / "cpu.stat").get("usage_usec", "0")
                return int(usec) / 1e6
            if self._cpuacct is not None:
                return int(_read(self._cpuacct / name / "cpuacct.usage")) / 1e9
        except FileNotFoundError:
            pass
        return 0.0

    def memory_bytes(self, name: str) -> int:
        if self._memory is None:
            return 0
        try:
            return int(_read(self._memory / name / "memory.usage_in_bytes"))
        except FileNotFoundError:
            return 0

    def squeeze(self, name: str) -> None:
        """cgroup v1 has no ``memory.reclaim``: the limit is stepped down below what the group
        uses (the kernel reclaims to fit, swapping a frozen tree's pages out), halving to
        :data:`_SQUEEZE_FLOOR` or until the kernel refuses, then put back."""
        if self._memory is None:
            return
        limit_file = self._memory / name / "memory.limit_in_bytes"
        try:
            limit = _read(limit_file).strip()
            usage = int(_read(self._memory / name / "memory.usage_in_bytes"))
        except FileNotFoundError:
            return
        target = usage // 2
        try:
            while (step := max(target, _SQUEEZE_FLOOR)) < usage:
                try:
                    _write(limit_file, str(step))
                except OSError:
                    break  # EBUSY: nothing more the kernel can push out
                if step == _SQUEEZE_FLOOR:
                    break
                target //= 2
        finally:
            with contextlib.suppress(OSError):
                _write(limit_file, limit)


class UnifiedCgroups(_Base):
    """A pure cgroup2 host: one hierarchy with the cpu, memory and pids controllers."""

    kind = "cgroup2"
    _WANTED = ("cpu", "memory", "pids")

    def __init__(self, mount: Path) -> None:
        super().__init__(hierarchies=(mount,), unified=mount)
        self._mount = mount
        self._probe_unified()

    def create(self, name: str, resources: Resources) -> None:
        # Controllers reach a group only if every ancestor delegates them to its children.
        parent = self._mount
        for part in name.split("/")[:-1]:
            self._delegate(parent)
            parent = _mkdirs(parent, part)
        self._delegate(parent)
        group = _mkdirs(self._mount, name)
        if (group / "cpu.max").exists():
            _write(group / "cpu.max", f"{int(resources.cpus * _CFS_PERIOD_US)} {_CFS_PERIOD_US}")
        if (group / "memory.max").exists():
            _write(group / "memory.max", str(resources.memory_mb * _MIB))
            if (group / "memory.swap.max").exists():
                _write(group / "memory.swap.max", "0")
        if (group / "pids.max").exists():
            _write(group / "pids.max", str(resources.pids))

    def _delegate(self, group: Path) -> None:
        available = set(_read(group / "cgroup.controllers").split())
        enabled = set(_read(group / "cgroup.subtree_control").split())
        for controller in self._WANTED:
            if controller in available and controller not in enabled:
                _write(group / "cgroup.subtree_control", f"+{controller}")

    def cpu_seconds(self, name: str) -> float:
        try:
            return int(_keyed(self._mount / name / "cpu.stat").get("usage_usec", "0")) / 1e6
        except FileNotFoundError:
            return 0.0

    def memory_bytes(self, name: str) -> int:
        try:
            return int(_read(self._mount / name / "memory.current"))
        except FileNotFoundError:
            return 0

    def squeeze(self, name: str) -> None:
        """``memory.reclaim`` of all it holds; a session may swap only for this (its
        ``memory.swap.max`` is 0 otherwise, so a running session never swaps)."""
        group = self._mount / name
        swap_max = group / "memory.swap.max"
        if not (group / "memory.reclaim").exists():
            return
        try:
            if swap_max.exists():
                _write(swap_max, "max")
            _write(group / "memory.reclaim", _read(group / "memory.current").strip())
        except OSError:
            pass  # EAGAIN: it reclaimed what it could
        finally:
            if swap_max.exists():
                with contextlib.suppress(OSError):
                    _write(swap_max, "0")


def detect_cgroups(mounts: CgroupMounts, *, writable: bool) -> CgroupBackend | None:
    """The backend for what is mounted, or None (no cgroups, or no right to make groups)."""
    if not writable:
        return None
    if any(mounts.v1_path(c) for c in ("cpu", "cpuacct", "memory", "pids")):
        return HybridCgroups(mounts)
    if mounts.unified is not None:
        return UnifiedCgroups(Path(mounts.unified))
    return None
