"""The lifecycle daemon's files in its home, and how anyone reads them.

``HOME/daemon/`` holds:

- ``lifecycle.lock``: held (``flock``, exclusive) by the one daemon serving the home, for as
  long as it runs. The kernel drops the lock when the process dies however it dies, so "is a
  daemon running" is "is this lock held", never a guess from a pid;
- ``lifecycle.pid``: the holder's pid (second line: its owner token, pid + process start time,
  so a recycled pid is never mistaken for it). Written and removed only by the lock holder;
- ``lifecycle.status.json``: when it started, its last pass (time, outcome), how it exited;
- ``lifecycle.log``: what it did (passes that changed something, errors, start and exit).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from computerouter.compute.owner import owner_alive

__all__ = [
    "DaemonFiles",
    "DaemonStatus",
    "HomeLock",
    "daemon_status",
    "lock_held",
    "read_pid",
    "read_status_file",
    "remove_quietly",
    "write_atomic",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class DaemonFiles:
    home: Path
    dir: Path
    lock: Path
    pid: Path
    status: Path
    log: Path

    @classmethod
    def of(cls, home: Path) -> DaemonFiles:
        base = home / "daemon"
        return cls(
            home=home,
            dir=base,
            lock=base / "lifecycle.lock",
            pid=base / "lifecycle.pid",
            status=base / "lifecycle.status.json",
            log=base / "lifecycle.log",
        )


class HomeLock:
    """The exclusive lock on ``lifecycle.lock``: whoever holds it is the home's daemon."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, within_s: float = 0.0) -> bool:
        """Take the lock, retrying for ``within_s``: a reader probing it (:func:`lock_held`)
        holds it for microseconds, a daemon for as long as it lives."""
        deadline = time.monotonic() + within_s
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.02)
                continue
            self._fd = fd
            return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None

    def still_ours(self) -> bool:
        """Whether the lock file on disk is the one held: false once the home was deleted
        (or deleted and made again, when a new daemon may serve the new one)."""
        if self._fd is None:
            return False
        try:
            on_disk = os.stat(self.path)
        except OSError:
            return False
        held = os.fstat(self._fd)
        return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def lock_held(path: Path) -> bool:
    """Whether some process holds the daemon lock (probes it, never waits)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@dataclass(frozen=True, kw_only=True, slots=True)
class DaemonStatus:
    """What the files say about a home's lifecycle daemon."""

    home: Path
    running: bool
    pid: int | None = None
    started_at: float | None = None
    last_pass_at: float | None = None
    last_outcome: str = ""
    passes: int = 0
    exited_at: float | None = None
    exit_reason: str = ""


def read_pid(files: DaemonFiles) -> tuple[int, str] | None:
    """The pid and owner token in the pid file, if it names a live process."""
    try:
        first, _, owner = files.pid.read_text().partition("\n")
        pid = int(first.strip())
    except (OSError, ValueError):
        return None
    owner = owner.strip()
    if not owner_alive(owner, lease_expires_at=None, now=time.time()):
        return None
    return pid, owner


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


def read_status_file(files: DaemonFiles) -> dict[str, Any]:
    try:
        data = json.loads(files.status.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def daemon_status(home: Path) -> DaemonStatus:
    """Whether a daemon serves ``home`` (its lock is held), and what it last recorded.
    Reads only; makes no file or directory."""
    files = DaemonFiles.of(home)
    running = lock_held(files.lock)
    found = read_pid(files) if running else None
    data = read_status_file(files)
    pid = found[0] if found is not None else None
    same = pid is not None and data.get("pid") == pid
    passes = data.get("passes")
    return DaemonStatus(
        home=home,
        running=running,
        pid=pid,
        started_at=_float(data.get("started_at")) if same or not running else None,
        last_pass_at=_float(data.get("last_pass_at")),
        last_outcome=str(data.get("last_outcome", "")),
        passes=passes if isinstance(passes, int) and (same or not running) else 0,
        exited_at=None if running else _float(data.get("exited_at")),
        exit_reason="" if running else str(data.get("exit_reason", "")),
    )
