"""Who holds an operation on a session, and whether that holder is still alive.

An owner is ``host:pid:start`` where ``start`` is the process start time from ``/proc``, so a
recycled pid is not mistaken for the original holder. On the same host a dead owner is seen at
once; an owner on another host is trusted until its lease expires.
"""

from __future__ import annotations

import os
import socket
from functools import cache

__all__ = ["current_owner", "owner_alive", "stat_fields"]


def stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (the first is the state, the
    second the parent pid), or ``None`` when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; fields after it don't.
    return stat[stat.rfind(")") + 2 :].split()


def _start_time(pid: int) -> str | None:
    fields = stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


@cache
def _host() -> str:
    return socket.gethostname()


def current_owner() -> str:
    pid = os.getpid()
    return f"{_host()}:{pid}:{_start_time(pid) or '0'}"


def owner_alive(owner: str | None, *, lease_expires_at: float | None, now: float) -> bool:
    """``False`` once the owner is known dead (same host) or its lease has run out."""
    if not owner:
        return False
    if lease_expires_at is not None and now > lease_expires_at:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != _host() or not pid_text.isdigit():
        return True
    return _start_time(int(pid_text)) == start
