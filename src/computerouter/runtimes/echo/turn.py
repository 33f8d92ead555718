"""One agent turn on the echo test runtime, as a TurnHandle: a streamed chat completion.

The echo server's chunks are OpenAI chat-completion chunks; this is the one place that reads
them and translates them into neutral events: a :class:`MessageDelta` per piece of text, then
:class:`Usage` and :class:`RunCompleted` with the whole reply. An HTTP error is a
:class:`RunFailed` with a one-line reason; :meth:`EchoTurn.cancel` closes the stream (the
server stops at its next write) and the turn ends :class:`RunCancelled`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from computerouter.domain.events import (
    AgentEvent,
    MessageDelta,
    RunCancelled,
    RunCompleted,
    RunFailed,
    Usage,
)
from computerouter.errors import InputError, RuntimeFailure
from computerouter.runtimes.base import EventContext, TurnRequest
from computerouter.runtimes.sse import parse_sse

__all__ = ["CONVERSATION_HEADER", "MODEL", "EchoTurn"]

MODEL = "echo"
CONVERSATION_HEADER = "X-Echo-Conversation"
"""Names the conversation whose history the echo server keeps (in its memory)."""
_ERROR_CHARS = 200


class EchoTurn:
    def __init__(
        self,
        client: httpx.Client,
        request: TurnRequest,
        context: EventContext,
        *,
        turn_timeout_s: float,
    ) -> None:
        self._context = context
        self._timeout_s = turn_timeout_s
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._open = True
        messages = [{"role": "user", "content": request.input}]
        if request.instructions:
            messages.insert(0, {"role": "system", "content": request.instructions})
        headers = {CONVERSATION_HEADER: request.conversation} if request.conversation else {}
        body = {"model": MODEL, "messages": messages, "stream": True}
        built = client.build_request(
            "POST",
            "/v1/chat/completions",
            json=body,
            headers=headers,
            timeout=httpx.Timeout(turn_timeout_s, connect=5.0),
        )
        try:
            self._response = client.send(built, stream=True)
        except httpx.HTTPError as exc:
            raise RuntimeFailure(f"the echo runtime did not accept the turn: {exc}") from exc

    def events(self) -> Iterator[AgentEvent]:
        make = self._context.make
        try:
            if self._response.status_code != 200:
                yield make(RunFailed, error=self._refusal(), code="runtime_failed")
                return
            pieces: list[str] = []
            usage: Mapping[str, Any] | None = None
            finished = False
            for payload in parse_sse(self._response.iter_lines()):
                if self._cancelled.is_set():
                    break
                for delta, finish in _choices(payload):
                    if delta:
                        pieces.append(delta)
                        yield make(MessageDelta, delta=delta)
                    finished = finished or finish
                if isinstance(payload.get("usage"), Mapping):
                    usage = payload["usage"]
        except httpx.ReadTimeout:
            if not self._cancelled.is_set():
                yield make(
                    RunFailed,
                    error=f"the turn produced no chunk for {self._timeout_s:.0f} s",
                    code="turn_timeout",
                )
                return
        except httpx.HTTPError as exc:
            if not self._cancelled.is_set():
                error = f"lost the echo runtime's stream: {exc}"
                yield make(RunFailed, error=error, code="runtime_lost")
                return
        finally:
            with self._lock:
                self._open = False
            self._response.close()
        if self._cancelled.is_set():
            yield make(RunCancelled)
            return
        if not finished:
            error = "the echo runtime ended the stream before the turn finished"
            yield make(RunFailed, error=error, code="runtime_lost")
            return
        if usage is not None:
            inp, out = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
            total = _int(usage.get("total_tokens")) or inp + out
            yield make(Usage, input_tokens=inp, output_tokens=out, total_tokens=total, model=MODEL)
        yield make(RunCompleted, output="".join(pieces))

    def _refusal(self) -> str:
        """One line saying why the runtime refused the turn."""
        status = self._response.status_code
        try:
            body = self._response.read()
        except httpx.HTTPError:
            body = b""
        try:
            message = str(json.loads(body)["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = body.decode(errors="replace")
        line = " ".join(message.split())[:_ERROR_CHARS]
        return f"the echo runtime answered HTTP {status}" + (f": {line}" if line else "")

    def respond_approval(self, choice: str) -> None:
        raise InputError("the echo runtime asks for no approvals")

    def cancel(self) -> None:
        """Close the stream from any thread: the reader wakes at once and the turn ends
        cancelled; the server's next write meets a closed connection and it stops."""
        self._cancelled.set()
        with self._lock:
            if not self._open:
                return
            stream = self._response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                # shutdown, not close: a read blocked in another thread returns now.
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _choices(payload: Mapping[str, Any]) -> Iterator[tuple[str, bool]]:
    """Each choice of one chunk: its text and whether it finished."""
    choices = payload.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, Mapping):
            continue
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, Mapping) else None
        yield (content if isinstance(content, str) else ""), bool(choice.get("finish_reason"))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
