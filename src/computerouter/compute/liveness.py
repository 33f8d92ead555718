"""Keeping this control plane's claims alive: run heartbeats and operation leases.

Other replicas judge whether an owner is alive by what it writes: a run in flight whose
heartbeat stops is ended as abandoned once ``run_stale_after_s`` has passed (its billing stops
at the last heartbeat), and a transitional operation whose lease runs out may be taken over.
So an owner that is alive must keep saying so, however long a provider call or a turn takes.

One thread per control plane does it for everything the process holds: every
``run_heartbeat_s`` it marks all open runs alive in one statement and renews the lease of every
operation in progress, instead of a thread (or a write) per run. Every ``CANCEL_POLL_S`` it also
reads whether any of its runs was asked to cancel (``pause --now`` on any replica) and calls
that run's ``on_cancel`` once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from computerouter.errors import ComputeRouterError

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter

__all__ = ["CANCEL_POLL_S", "Keepalive", "OnCancel"]

CANCEL_POLL_S = 0.5
OnCancel = Callable[[str, float], None]
"""Called once with (reason, when requested) when a run is asked to cancel."""


class Keepalive:
    def __init__(self, router: ComputeRouter) -> None:
        self._router = router
        self._runs: dict[str, int] = {}
        self._leases: dict[str, int] = {}
        self._on_cancel: dict[str, OnCancel] = {}
        self._on_beat: dict[str, Callable[[], None]] = {}
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def run(
        self,
        run_id: str,
        on_cancel: OnCancel | None = None,
        on_beat: Callable[[], None] | None = None,
    ) -> Iterator[None]:
        """Heartbeat ``run_id`` while the block runs; ``on_cancel`` if it is asked to stop;
        ``on_beat`` at every heartbeat (a provider's own keep-alive)."""
        with self._guard:
            if on_cancel is not None:
                self._on_cancel[run_id] = on_cancel
            if on_beat is not None:
                self._on_beat[run_id] = on_beat
        try:
            with self._held(self._runs, run_id):
                yield
        finally:
            with self._guard:
                self._on_cancel.pop(run_id, None)
                self._on_beat.pop(run_id, None)

    def check_cancels(self) -> None:
        """Call ``on_cancel`` for each run asked to cancel since the last look."""
        with self._guard:
            watched = list(self._on_cancel)
        if not watched:
            return
        asked = self._router.gates.store.cancel_requests(watched)
        for run_id, (reason, at) in asked.items():
            with self._guard:
                callback = self._on_cancel.pop(run_id, None)
            if callback is not None:
                callback(reason, at)

    @contextmanager
    def lease(self, session_id: str) -> Iterator[None]:
        """Renew this owner's lease on ``session_id`` while the block runs."""
        with self._held(self._leases, session_id):
            yield

    def beat(self) -> None:
        """Mark everything held alive now (the thread calls this; tests may too)."""
        router = self._router
        with self._guard:
            runs, leases = list(self._runs), list(self._leases)
            beats = list(self._on_beat.values())
        now = router.clock.now()
        if runs:
            router.store.runs.heartbeat_many(runs, now=now)
        for beat in beats:
            with suppress(ComputeRouterError):
                beat()
        for session_id in leases:
            router.store.sessions.renew_lease(
                session_id, owner=router.owner, lease_expires_at=now + router.settings.lease_s
            )

    @contextmanager
    def _held(self, table: dict[str, int], key: str) -> Iterator[None]:
        with self._guard:
            table[key] = table.get(key, 0) + 1
            self._start()
        try:
            yield
        finally:
            with self._guard:
                table[key] -= 1
                if not table[key]:
                    del table[key]

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(
            target=self._loop, name="computerouter-keepalive", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        every = self._router.settings.run_heartbeat_s
        next_beat = time.monotonic() + every
        while True:
            self._wake.wait(min(every, CANCEL_POLL_S))
            with self._guard:
                if not self._runs and not self._leases:
                    self._thread = None
                    return
            with suppress(ComputeRouterError):
                self.check_cancels()
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + every
                with suppress(ComputeRouterError):
                    self.beat()
