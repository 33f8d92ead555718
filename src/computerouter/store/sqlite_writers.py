"""One writer at a time on a SQLite database, queued without sleeping.

SQLite lets one transaction write at a time; a ``BEGIN IMMEDIATE`` that finds the lock taken
is retried by SQLite's busy handler, which sleeps between tries (1, 2, 5, 10 ms and longer),
so under load writers spend most of their time asleep while the lock is free. Writers are
queued here instead: a lock per process (threads) and an ``flock`` on a file beside the
database (processes: other servers, workers, the CLI), each handed on the moment it is let
go. The database's own lock is still what keeps the data safe; this only decides who asks for
it next. A writer that waits longer than the busy timeout gets SQLite's own "database is
locked", as it would have without the queue; a process that dies lets its ``flock`` go.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

__all__ = ["SqliteWriters"]


class SqliteWriters:
    def __init__(self, database: Path, *, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._holder: int | None = None
        """``id`` of the DBAPI connection whose transaction writes now."""
        self._fd = _open_lock_file(Path(f"{database}.writer"))
        """``None`` where the file cannot be made (a read-only home: nothing is written)."""
        if self._fd is not None:
            weakref.finalize(self, os.close, self._fd)

    def acquire(self, dbapi_connection: Any) -> None:
        """Wait for this process's turn, then for the other processes'."""
        if not self._lock.acquire(timeout=self._timeout_s):
            raise sqlite3.OperationalError("database is locked")
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._lock.release()
            raise
        self._holder = _key(dbapi_connection)

    def release(self, dbapi_connection: Any) -> None:
        """After the transaction of ``dbapi_connection`` ended (committed, rolled back, or
        its connection closed); nothing if it held no turn."""
        if self._holder != _key(dbapi_connection):
            return
        self._holder = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()


def _key(connection: Any) -> int:
    """The DBAPI connection's identity, whether given bare or through the pool's proxy."""
    return id(getattr(connection, "dbapi_connection", None) or connection)


def _open_lock_file(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        pass
    try:  # made by another user, or in a directory that is read-only now
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
