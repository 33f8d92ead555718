"""A run's ceiling watch: stop the turn when the run has run for its ``max_run_s``.

The run's ceiling is the agent's own ``max_run_s``, else its sandbox's, else the default
setting (:func:`computerouter.compute.ceilings.run_ceiling_s`). :meth:`RunCeiling.start` sets
the run's deadline on its lease, so the run is recorded and billed up to the ceiling at most,
however late the turn answers the stop; one thread per router watches the router's clock and
stops each turn at its deadline, the way a run out of credit is stopped (see :mod:`.spend`),
and the run ends with ``run.failed`` code ``ceiling``.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from computerouter.compute.ceilings import run_ceiling_s
from computerouter.compute.router import ComputeRouter, RunLease

__all__ = ["CEILING", "RunCeiling"]

CEILING = "ceiling"
"""``run.failed`` code of a run stopped because it ran for its ``max_run_s``."""


_INTERVAL_S = 0.1
"""How often the watch looks at the clock: a run is stopped within this of its ceiling."""


class _Watch:
    """One thread per router watching every run's ceiling (not a thread per run: starting one
    costs more than a fast turn). Polls the router's injected clock, so a test's clock moved
    by hand is seen within one interval."""

    def __init__(self, compute: ComputeRouter) -> None:
        self._clock = compute.clock
        self._lock = threading.Lock()
        self._watched: dict[int, RunCeiling] = {}
        self._thread: threading.Thread | None = None

    def add(self, ceiling: RunCeiling) -> None:
        with self._lock:
            self._watched[id(ceiling)] = ceiling
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="run-ceilings", daemon=True)
                self._thread.start()

    def remove(self, ceiling: RunCeiling) -> None:
        with self._lock:
            self._watched.pop(id(ceiling), None)

    def _run(self) -> None:
        while True:
            time.sleep(_INTERVAL_S)
            now = self._clock.now()
            with self._lock:
                if not self._watched:
                    self._thread = None
                    return
                due = [c for c in self._watched.values() if c.due(now)]
                for ceiling in due:
                    del self._watched[id(ceiling)]
            for ceiling in due:
                ceiling.fire()


_watches: weakref.WeakKeyDictionary[ComputeRouter, _Watch] = weakref.WeakKeyDictionary()
_watches_lock = threading.Lock()


def _watch_for(compute: ComputeRouter) -> _Watch:
    with _watches_lock:
        watch = _watches.get(compute)
        if watch is None:
            watch = _watches[compute] = _Watch(compute)
        return watch


class RunCeiling:
    def __init__(
        self,
        *,
        compute: ComputeRouter,
        lease: RunLease,
        agent_max_run_s: float | None,
        stop: Callable[[], None],
    ) -> None:
        self._compute = compute
        self._lease = lease
        self._stop_turn = stop
        self._lock = threading.Lock()
        self._closed = False
        self._watch: _Watch | None = None
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
        self._watch = _watch_for(self._compute)
        self._watch.add(self)

    def due(self, now: float) -> bool:
        deadline = self._lease.deadline
        return deadline is not None and now >= deadline

    def fire(self) -> None:
        """The ceiling is reached: stop the turn, unless the run already ended."""
        with self._lock:
            if self._closed:
                return
            self.reached = True
            self._stop_turn()

    def message(self) -> str:
        return (
            f"the run was stopped at its ceiling: it ran for its maximum of {self.limit_s:g} s "
            f"(max_run_s; raise it with agent update --max-run or compute sandboxes set --max-run)"
        )

    def close(self) -> None:
        """From here on the turn is never stopped by this ceiling."""
        with self._lock:
            self._closed = True
        if self._watch is not None:
            self._watch.remove(self)
