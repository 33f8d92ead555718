"""A session's logs followed over SSE (``GET /v1/compute/sessions/{id}/logs/follow``).

A provider hands its logs as a blocking iterator (a file tailed, a vendor polled), so each
follower has one pump thread of its own (never one of the server's worker threads) reading it
into a bounded buffer; the response drains that buffer on the event loop, woken through
``call_soon_threadsafe``. The stream is::

    event: log        data: {"source": "session", "text": "..."}     one per line
    event: error      data: {"error": {...}}   the one error body; the stream then ends
    : keep-alive      after KEEPALIVE_S of silence (proxies, and a hung-up client, notice)

It ends when the provider's iterator does (the instance is gone) or the client hangs up. A
pump whose client is gone stops at the buffer, or at the next line the provider hands it:
provider iterators only give control back with a line, so a quiet log keeps its pump until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
from collections.abc import AsyncIterator, Iterator

from computerouter.domain.logs import LogLine
from computerouter.errors import ComputeRouterError
from computerouter.wire.errors import error_body

__all__ = ["BUFFER_LINES", "KEEPALIVE_S", "SSE", "LogPump", "log_line_sse"]

SSE = "text/event-stream"
KEEPALIVE_S = 15.0
"""Silence after which a comment line is sent."""
BUFFER_LINES = 1000
"""Lines held for a slow client before the pump waits for it."""
_PUT_WAIT_S = 0.5

log = logging.getLogger(__name__)


def log_line_sse(line: LogLine) -> bytes:
    body = json.dumps({"source": line.source, "text": line.text}, separators=(",", ":"))
    return f"event: log\ndata: {body}\n\n".encode()


class LogPump:
    """One follower: a thread reading ``lines`` and the async :meth:`sse` writing them out."""

    def __init__(self, lines: Iterator[LogLine], *, request_id: str = "") -> None:
        self._lines = lines
        self._request_id = request_id
        self._buffer: queue.Queue[LogLine | ComputeRouterError | None] = queue.Queue(BUFFER_LINES)
        self._stop = threading.Event()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._pump, name="session-logs", daemon=True)

    # -- the pump (a thread) -------------------------------------------------------------------

    def _pump(self) -> None:
        try:
            for line in self._lines:
                if not self._put(line):
                    return
            self._put(None)
        except ComputeRouterError as exc:
            self._put(exc)
        except Exception as exc:
            log.exception("following a session's logs broke")
            self._put(ComputeRouterError(f"internal error ({type(exc).__name__})"))
        finally:
            close = getattr(self._lines, "close", None)
            if callable(close):
                close()

    def _put(self, item: LogLine | ComputeRouterError | None) -> bool:
        """Hand ``item`` to the response; False once the client is gone."""
        while not self._stop.is_set():
            try:
                self._buffer.put(item, timeout=_PUT_WAIT_S)
            except queue.Full:
                continue
            if self._loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop has closed
                    self._loop.call_soon_threadsafe(self._wake.set)
            return True
        return False

    # -- the response (async) ------------------------------------------------------------------

    async def sse(self) -> AsyncIterator[bytes]:
        self._loop = asyncio.get_running_loop()
        self._thread.start()
        try:
            while True:
                # Cleared before looking: a wake-up set meanwhile runs only at the next await.
                self._wake.clear()
                try:
                    item = self._buffer.get_nowait()
                except queue.Empty:
                    try:
                        await asyncio.wait_for(self._wake.wait(), KEEPALIVE_S)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                    continue
                if item is None:
                    return
                if isinstance(item, ComputeRouterError):
                    body = json.dumps(error_body(item, request_id=self._request_id))
                    yield f"event: error\ndata: {body}\n\n".encode()
                    return
                yield log_line_sse(item)
        finally:
            self._stop.set()
