"""Waiting for a runtime to answer on its unix socket.

A raw HTTP/1.1 request over a fresh socket costs tens of microseconds, so polling every 2 ms
adds at most that much to a resume (goal: thaw -> first 200 in a few milliseconds); an HTTP
client library would cost more per attempt than the thaw itself.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

__all__ = ["RESUME_TIMEOUT_S", "health_status", "wait_healthy"]

RESUME_TIMEOUT_S = 10.0
"""How long a thawed runtime has to answer again (resume, and a create that adopts)."""
_POLL_S = 0.002


def health_status(socket_path: str, http_path: str, *, timeout_s: float) -> int | None:
    """HTTP status of ``GET http_path``, or None when nothing answers (yet)."""
    request = (f"GET {http_path} HTTP/1.1\r\nHost: session\r\nConnection: close\r\n\r\n").encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(socket_path)
            sock.sendall(request)
            head = b""
            while b"\r\n" not in head and len(head) < 256:
                chunk = sock.recv(256)
                if not chunk:
                    break
                head += chunk
        except OSError:
            return None
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None
    return int(parts[1])


def wait_healthy(
    socket_path: str,
    http_path: str,
    *,
    timeout_s: float,
    alive: Callable[[], bool | None] = lambda: None,
) -> bool:
    """Poll until ``GET http_path`` returns 200 (True) or ``timeout_s`` passes (False).

    ``alive`` returns False once the tree is known dead (stop early), None while unknown.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        status = health_status(socket_path, http_path, timeout_s=max(0.05, min(remaining, 2.0)))
        if status == 200:
            return True
        if remaining <= 0 or alive() is False:
            return False
        time.sleep(_POLL_S)
