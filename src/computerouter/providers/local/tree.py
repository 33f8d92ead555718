"""One session's process tree, whether tracked by cgroups or (fallback) by process group.

With cgroups, membership is inherited and cannot be left by the tenant, so every question
(alive? frozen? CPU used?) is answered by the kernel for the whole tree. Without them (an
unprivileged operator, a host with no cgroup filesystem) the tree is the session leader's
process group: weaker (a process may leave it with setsid, freezing by SIGSTOP races with
fork, there are no limits), which :func:`~computerouter.providers.local.host.probe` reports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Protocol

from computerouter.domain.values import Resources
from computerouter.errors import ProviderError
from computerouter.providers.local.cgroups import CgroupBackend

__all__ = ["CgroupTree", "ProcessGroupTree", "ProcessTree", "read_pidfile"]


class ProcessTree(Protocol):
    def prepare(self, resources: Resources) -> None:
        """Make the groups and set limits (before anything starts)."""
        ...

    def join_files(self) -> list[Path]:
        """Files a process writes its pid to, before exec, to become part of the tree."""
        ...

    def pids(self) -> list[int]: ...

    def exists(self) -> bool:
        """Some trace of the tree (a group) exists, even with no process."""
        ...

    def freeze(self) -> None: ...

    def thaw(self) -> None: ...

    def frozen(self) -> bool: ...

    def kill(self) -> None:
        """Kill every process and wait until none is left."""
        ...

    def cpu_seconds(self) -> float: ...

    def memory_bytes(self) -> int: ...

    def squeeze(self) -> None:
        """Push the frozen tree's memory out to swap where the host can (best effort)."""
        ...

    def remove(self) -> None:
        """Remove the groups (after kill)."""
        ...


def read_pidfile(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


class CgroupTree:
    def __init__(self, backend: CgroupBackend, name: str) -> None:
        self.backend = backend
        self.name = name

    def prepare(self, resources: Resources) -> None:
        self.backend.create(self.name, resources)

    def join_files(self) -> list[Path]:
        return self.backend.join_files(self.name)

    def pids(self) -> list[int]:
        return self.backend.pids(self.name)

    def exists(self) -> bool:
        return self.backend.exists(self.name)

    def freeze(self) -> None:
        self.backend.freeze(self.name)

    def thaw(self) -> None:
        self.backend.thaw(self.name)

    def frozen(self) -> bool:
        return self.backend.frozen(self.name)

    def kill(self) -> None:
        self.backend.kill(self.name)

    def cpu_seconds(self) -> float:
        return self.backend.cpu_seconds(self.name)

    def memory_bytes(self) -> int:
        return self.backend.memory_bytes(self.name)

    def squeeze(self) -> None:
        self.backend.squeeze(self.name)

    def remove(self) -> None:
        self.backend.remove(self.name)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            raw = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may contain spaces and parentheses; fields resume after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


class ProcessGroupTree:
    """The session leader's process group (its pid, written to the pidfile by the launcher)."""

    def __init__(self, pidfile: Path) -> None:
        self.pidfile = pidfile

    def _leader(self) -> int | None:
        return read_pidfile(self.pidfile)

    def prepare(self, resources: Resources) -> None:
        return None

    def join_files(self) -> list[Path]:
        return []

    def pids(self) -> list[int]:
        leader = self._leader()
        if leader is None:
            return []
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                fields = _stat_fields(int(entry))
                # state Z: exited, only waiting to be reaped; it holds nothing.
                if fields and fields[2] == str(leader) and fields[0] != "Z":
                    found.append(int(entry))
        return sorted(found)

    def exists(self) -> bool:
        return bool(self.pids())

    def _signal(self, sig: signal.Signals) -> None:
        leader = self._leader()
        if leader is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(leader, sig)

    def freeze(self) -> None:
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def frozen(self) -> bool:
        states = [f[0] for f in (_stat_fields(p) for p in self.pids()) if f]
        return bool(states) and all(s in ("T", "t") for s in states)

    def kill(self) -> None:
        deadline = time.monotonic() + 10.0
        while self.pids():
            self._signal(signal.SIGKILL)
            if time.monotonic() > deadline:
                raise ProviderError(
                    "session processes survived SIGKILL", provider="local", retryable=True
                )
            time.sleep(0.002)

    def cpu_seconds(self) -> float:
        ticks = 0
        for pid in self.pids():
            fields = _stat_fields(pid)
            if fields:
                # utime, stime, cutime, cstime
                ticks += sum(int(x) for x in fields[11:15])
        return ticks / os.sysconf("SC_CLK_TCK")

    def memory_bytes(self) -> int:
        total = 0
        page = os.sysconf("SC_PAGE_SIZE")
        for pid in self.pids():
            fields = _stat_fields(pid)
            if fields:
                total += int(fields[21]) * page
        return total

    def squeeze(self) -> None:
        """Without cgroups there is no group to reclaim from."""

    def remove(self) -> None:
        return None
