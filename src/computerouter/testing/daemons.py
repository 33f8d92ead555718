"""Finding and ending lifecycle daemons in tests, so none outlives the test that made it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from computerouter.compute.daemon import stop_daemon
from computerouter.compute.daemon_files import DaemonFiles, lock_held

__all__ = ["daemon_pids", "stop_daemons"]


def daemon_pids(home: Path) -> list[int]:
    """Pids of live ``computerouter --home HOME daemon run`` processes (zombies excluded)."""
    wanted = ["--home", str(home), "daemon", "run"]
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace").split("\0")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2 :].startswith("Z"):
            continue
        if any(argv[i : i + len(wanted)] == wanted for i in range(len(argv))):
            found.append(int(entry))
    return sorted(found)


def stop_daemons(home: Path, *, timeout_s: float = 30.0) -> list[int]:
    """Stop the home's daemon (also one still starting) and wait for every process serving it
    to end; returns the pids still running after ``timeout_s`` (none, when all is well)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = daemon_pids(home)
        if not left or time.monotonic() > deadline:
            return left
        if lock_held(DaemonFiles.of(home).lock):
            stop_daemon(home, timeout_s=max(0.1, deadline - time.monotonic()))
        time.sleep(0.05)
