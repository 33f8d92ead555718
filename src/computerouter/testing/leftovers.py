"""A pytest plugin: the suite leaves no process of its own running when it ends.

A test that fails half-way can leave a child behind (a server it started, a worker stuck on a
lock). Such a child keeps the terminal's pipe open, so whatever waits for the suite's output
waits for ever. At the end of the session every descendant of the test process still alive is
named and killed.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from computerouter.compute.owner import stat_fields


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = stat_fields(int(entry.name))
        if fields is not None:
            parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, nearest first."""
    parents = _parents()
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:120]


def pytest_unconfigure(config: pytest.Config) -> None:
    if not Path("/proc/self/stat").exists():
        return
    leftovers = descendants(os.getpid())
    for pid in leftovers:
        command = _command(pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        print(f"\nleftover process {pid} killed at the end of the suite: {command}")
