"""The lifecycle loop: a lifecycle pass every interval, for as long as some session needs one.

The loop knows nothing of processes, files or signals; the per-home daemon
(:mod:`computerouter.compute.daemon`) wraps it in those. Time enters only through the router's
clock and the ``sleep`` it is given, so a test drives it with a manual clock::

    loop = LifecycleLoop(router=router, interval_s=30, sleep=clock.advance)
    loop.run()   # returns once no session is running, suspended or mid-operation
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from computerouter.compute.lifecycle import LifecycleReport, lifecycle_pass, needs_lifecycle
from computerouter.errors import ComputeRouterError, ConfigError

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter
    from computerouter.ledger import Ledger

__all__ = ["LifecycleLoop", "LoopExit", "PassOutcome"]

log = logging.getLogger("computerouter.lifecycle")


class LoopExit(enum.StrEnum):
    """Why :meth:`LifecycleLoop.run` returned."""

    NOTHING_LIVE = "no session needs the lifecycle"
    """No session is running, suspended or mid-operation: nothing for time to do."""
    STOPPED = "asked to stop"
    """:meth:`LifecycleLoop.stop` was called (``daemon stop``, SIGTERM)."""
    ABANDONED = "what it served is gone"
    """The ``abandoned`` check said so (the daemon's home was deleted)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PassOutcome:
    """One pass as the loop saw it: its report, or the error that stopped it."""

    at: float
    report: LifecycleReport | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.report is not None and not self.report.errors

    def describe(self) -> str:
        if self.report is None:
            return f"failed: {self.error}"
        errors = len(self.report.errors)
        tail = f"; {errors} error{'s' if errors != 1 else ''}" if errors else ""
        return ("ok" if not errors else "partly failed") + f" ({self.report.summary()}){tail}"


class LifecycleLoop:
    """Runs :func:`~computerouter.compute.lifecycle.lifecycle_pass` every ``interval_s``.

    ``sleep(seconds)`` waits between passes (by default an interruptible wait that
    :meth:`stop` cuts short); ``abandoned()`` is asked before each pass and ends the loop when
    true; ``on_pass`` sees every pass's outcome. A pass that raises is logged and counted, and
    the loop goes on: a database that is down now may be back at the next interval.
    """

    def __init__(
        self,
        *,
        router: ComputeRouter,
        interval_s: float,
        ledger: Ledger | None = None,
        sleep: Callable[[float], object] | None = None,
        abandoned: Callable[[], bool] = lambda: False,
        on_pass: Callable[[PassOutcome], None] | None = None,
    ) -> None:
        if not interval_s > 0:
            raise ConfigError(f"lifecycle_interval_s must be more than zero, not {interval_s}")
        self.router = router
        self.ledger = ledger
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._abandoned = abandoned
        self._on_pass = on_pass
        self.passes = 0
        self.last: PassOutcome | None = None

    def stop(self) -> None:
        """Ask the loop to return; safe from a signal handler or another thread."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_once(self) -> PassOutcome:
        """One pass, never raising for what the product raises on purpose or the store throws."""
        at = self.router.clock.now()
        try:
            report = lifecycle_pass(self.router, ledger=self.ledger)
        except Exception as exc:  # one bad pass must not end the lifecycle; logged in full
            log.exception("lifecycle pass failed")
            outcome = PassOutcome(at=at, report=None, error=str(exc) or type(exc).__name__)
        else:
            outcome = PassOutcome(at=at, report=report)
            if report.changed or report.errors:
                log.info("pass: %s", outcome.describe())
                for error in report.errors:
                    log.warning("pass error: %s", error)
        self.passes += 1
        self.last = outcome
        if self._on_pass is not None:
            self._on_pass(outcome)
        return outcome

    def needed(self) -> bool:
        """Whether some session still needs the lifecycle; ``True`` when the store cannot say."""
        try:
            return needs_lifecycle(self.router.store) or self.router.pool.holds_any()
        except (ComputeRouterError, OSError) as exc:
            log.warning("cannot read the sessions (%s); keeping the lifecycle running", exc)
            return True

    def run(self) -> LoopExit:
        """Pass, then wait, until stopped, abandoned, or no session needs the lifecycle."""
        while True:
            if self._stop.is_set():
                return LoopExit.STOPPED
            if self._abandoned():
                return LoopExit.ABANDONED
            self.run_once()
            if self._stop.is_set():
                return LoopExit.STOPPED
            if not self.needed():
                return LoopExit.NOTHING_LIVE
            self._sleep(self.interval_s)
