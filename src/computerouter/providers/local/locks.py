"""Advisory file locks (``flock``) shared by every process that uses the same provider root.

The control plane is often a short CLI command next to a long-lived server, so in-process locks
are not enough. flock locks die with their holder, so a crashed holder never wedges anyone.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

__all__ = ["HeldLock", "file_lock"]


class HeldLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def discard(self) -> None:
        """Unlink the lock file while holding it (an instance being destroyed leaves nothing).

        Waiters that opened the old file notice on wake-up that it is no longer the file at
        ``path`` and retry on a fresh one, so two holders never overlap.
        """
        with suppress(FileNotFoundError):
            os.unlink(self.path)


@contextmanager
def file_lock(path: Path) -> Iterator[HeldLock]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            held = os.fstat(fd)
            if current is not None and (current.st_ino, current.st_dev) == (
                held.st_ino,
                held.st_dev,
            ):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield HeldLock(path, fd)
    finally:
        os.close(fd)
