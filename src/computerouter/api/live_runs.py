"""Runs in flight on this server: one pump thread per run, a buffer any number of clients follow.

The pump drains the run's sync event iterator into :class:`LiveRun`; followers are async and
are woken through their event loop (``call_soon_threadsafe``), so they hold no thread.
Finished runs stay a while (``keep_finished``) so a late client can still read or resume them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator

from computerouter.agents.router import AgentRun
from computerouter.api.journal import RunJournal
from computerouter.domain.events import (
    AgentEvent,
    RunCancelled,
    RunCompleted,
    RunFailed,
    SessionReady,
)
from computerouter.errors import ComputeRouterError
from computerouter.log_format import bind_ids, reset_ids

__all__ = ["LiveRun", "LiveRuns"]

log = logging.getLogger(__name__)
_TERMINAL = (RunCompleted, RunFailed, RunCancelled)


class LiveRun:
    def __init__(self, run: AgentRun, journal: RunJournal | None = None) -> None:
        self.run = run
        self._journal = journal
        self.user_id = run.agent.user_id
        self.created_at = time.time()
        self.ended_at: float | None = None
        self.events: list[AgentEvent] = []
        self.error: ComputeRouterError | None = None
        self.done = False
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._thread = threading.Thread(target=self._pump, name=f"run-{run.run_id}", daemon=True)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def state(self) -> str:
        with self._lock:
            last = self.events[-1] if self.events else None
            if isinstance(last, RunCompleted):
                return "completed"
            if isinstance(last, RunCancelled):
                return "cancelled"
            if isinstance(last, RunFailed) or self.error is not None:
                return "failed"
            return "running" if self.events else "pending"

    @property
    def session_id(self) -> str | None:
        for event in self.events[:2]:
            if isinstance(event, SessionReady):
                return event.session_id
        return None

    @property
    def output(self) -> str | None:
        last = self.events[-1] if self.events else None
        return last.output if isinstance(last, RunCompleted) else None

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    # -- the pump (a thread) ---------------------------------------------------------------

    def _pump(self) -> None:
        agent = self.run.agent
        ids = bind_ids(
            run_id=self.run_id,
            user_id=agent.user_id,
            sandbox_id=agent.sandbox_id,
            agent_id=agent.id,
        )
        try:
            for event in self.run.events():
                if isinstance(event, SessionReady):
                    bind_ids(session_id=event.session_id)
                self._append(event)
        except ComputeRouterError as exc:
            self._fail(exc)
        except Exception as exc:
            log.exception("run %s: the event stream broke", self.run_id)
            self._fail(ComputeRouterError(f"internal error: {type(exc).__name__}"))
        finally:
            with self._lock:
                self.done = True
                self.ended_at = time.time()
            self._wake()
            took_ms = round((self.ended_at - self.created_at) * 1000)
            log.info(
                "run %s %s", self.run_id, self.state, extra={"outcome": self.state, "ms": took_ms}
            )
            reset_ids(ids)

    def _fail(self, exc: ComputeRouterError) -> None:
        with self._lock:
            self.error = exc
            started = bool(self.events)
            last = self.events[-1] if self.events else None
        if started and not isinstance(last, _TERMINAL):
            agent = self.run.agent
            self._append(
                RunFailed(
                    run_id=self.run_id,
                    agent_id=agent.id,
                    sandbox_id=agent.sandbox_id,
                    user_id=agent.user_id,
                    at=time.time(),
                    seq=(last.seq if last is not None else 0) + 1,
                    error=exc.message,
                    code=exc.code,
                )
            )

    def _append(self, event: AgentEvent) -> None:
        with self._lock:
            self.events.append(event)
            position = len(self.events)
        if self._journal is not None:
            self._journal.record(self.run_id, position, event)
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, wake in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(wake.set)

    # -- followers (async) -----------------------------------------------------------------

    async def follow(self, after: int = 0) -> AsyncGenerator[tuple[int, AgentEvent], None]:
        """Events after position ``after`` (1-based ids), as they come, until the run ends."""
        wake = asyncio.Event()
        waiter = (asyncio.get_running_loop(), wake)
        with self._lock:
            self._waiters.add(waiter)
        try:
            position = max(0, after)
            while True:
                with self._lock:
                    batch = self.events[position:]
                    done = self.done
                for event in batch:
                    position += 1
                    yield position, event
                if done and not batch:
                    return
                if not batch:
                    await wake.wait()
                    wake.clear()
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    async def started(self) -> ComputeRouterError | None:
        """Wait for the first event (the session is ready) or the error that stopped the run
        before it began; return that error, if any."""
        async with contextlib.aclosing(self.follow()) as events:
            async for _ in events:
                return None
        return self.error


class LiveRuns:
    """The registry of this server's runs."""

    def __init__(self, *, keep_finished: int = 1000, journal: RunJournal | None = None) -> None:
        self.journal = journal
        self._runs: OrderedDict[str, LiveRun] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep_finished

    def start(self, run: AgentRun) -> LiveRun:
        live = LiveRun(run, self.journal)
        with self._lock:
            self._runs[live.run_id] = live
            finished = [k for k, v in self._runs.items() if v.done]
            for key in finished[: max(0, len(finished) - self._keep)]:
                del self._runs[key]
        live.start()
        return live

    def get(self, run_id: str) -> LiveRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def close(self, *, timeout_s: float = 10.0) -> None:
        """Cancel every run still in flight and wait (a little) for them to end."""
        with self._lock:
            running = [r for r in self._runs.values() if not r.done]
        for live in running:
            live.run.cancel()
        deadline = time.monotonic() + timeout_s
        for live in running:
            live.join(max(0.0, deadline - time.monotonic()))
        if self.journal is not None:
            self.journal.close()
