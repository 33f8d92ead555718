"""A run's ceiling watch: stop the turn when the run has run for its ``max_run_s``.

The run's ceiling is the agent's own ``max_run_s``, else its sandbox's, else the default
setting (:func:`computerouter.compute.ceilings.run_ceiling_s`). :meth:`RunCeiling.start` sets
the run's deadline on its lease, so the run is recorded and billed up to the ceiling at most,
however late the turn answers the stop; a thread then watches the router's clock and stops the
turn at the deadline, the way a run out of credit is stopped (see :mod:`.spend`), and the run
ends with ``run.failed`` code ``ceiling``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from computerouter.compute.ceilings import run_ceiling_s
from computerouter.compute.router import ComputeRouter, RunLease

__all__ = ["CEILING", "RunCeiling"]

CEILING = "ceiling"
"""``run.failed`` code of a run stopped because it ran for its ``max_run_s``."""


class RunCeiling:
    def __init__(
        self,
        *,
        compute: ComputeRouter,
        lease: RunLease,
        agent_max_run_s: float | None,
        stop: Callable[[], None],
        interval_s: float = 0.1,
    ) -> None:
        self._compute = compute
        self._lease = lease
        self._stop_turn = stop
        self._interval_s = interval_s
        self._done = threading.Event()
        self._watch: threading.Thread | None = None
        self.limit_s = run_ceiling_s(compute, lease.session.key, agent_max_run_s)
        self.reached = False
        """The turn was stopped because the run reached its ceiling."""

    def __enter__(self) -> RunCeiling:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._lease.deadline = self._lease.started_at + self.limit_s
        self._watch = threading.Thread(
            target=self._watch_time, name=f"ceiling-{self._lease.run_id}", daemon=True
        )
        self._watch.start()

    def _watch_time(self) -> None:
        deadline = self._lease.deadline
        assert deadline is not None
        clock = self._compute.clock
        # Polls the injected clock (a test's clock moves by hand): the stop comes within one
        # interval of the deadline.
        while not self._done.wait(self._interval_s):
            if clock.now() >= deadline:
                self.reached = True
                self._stop_turn()
                return

    def message(self) -> str:
        return (
            f"the run was stopped at its ceiling: it ran for its maximum of {self.limit_s:g} s "
            f"(max_run_s; raise it with agent update --max-run or compute sandboxes set --max-run)"
        )

    def close(self) -> None:
        self._done.set()
        if self._watch is not None:
            self._watch.join(timeout=5.0)
