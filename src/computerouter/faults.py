"""Failpoints: named places where a test can make this process die as ``kill -9`` would.

Crash safety is a claim about every step of an operation, so the steps that move data (archive,
restore, resume, suspend) name the points between their writes. A test sets
``COMPUTEROUTER_FAILPOINT=<name>`` on a control-plane process; when that process reaches the
point it sends itself ``SIGKILL``: no ``finally`` block, no ``atexit``, no flush runs, exactly as
if the machine had lost the process there. Unset (always, in production) a failpoint is one
dictionary lookup.

Like etcd's gofail or TiKV's fail-rs, but deliberately smaller: one action (die), one point
per process.
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "failpoint"]

ENV = "COMPUTEROUTER_FAILPOINT"


def failpoint(name: str) -> None:
    """Die here, by ``SIGKILL``, if ``COMPUTEROUTER_FAILPOINT`` names this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
