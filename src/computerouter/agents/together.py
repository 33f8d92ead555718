"""Independent steps of a turn's setup and teardown, run side by side.

Each step mostly waits on another process (a relay's control channel, the runtime's API, the
store), so running them at once costs about the slowest of them instead of their sum. The
steps run in a pool shared by every run of the process (starting a thread per step would
cost more than most steps), each in a copy of the caller's context, so its log lines still
carry the run's ids.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["together"]

_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="turn-step")


def together(*steps: Callable[[], None]) -> None:
    """Run ``steps`` at once (the last one on this thread) and wait for all of them; then
    raise the first error, in the order the steps were given. A step never stops another."""
    if not steps:
        return
    started: list[Future[None]] = [
        _POOL.submit(contextvars.copy_context().run, step) for step in steps[:-1]
    ]
    last: BaseException | None = None
    try:
        steps[-1]()
    except BaseException as exc:
        last = exc
    errors = [future.exception() for future in started] + [last]  # waits for each
    first = next((error for error in errors if error is not None), None)
    if first is not None:
        raise first
