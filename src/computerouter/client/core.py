"""What the sync and async clients share: retry policy, error decoding, SSE parsing."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from computerouter.domain.events import AgentEvent
from computerouter.errors import ComputeRouterError, RateLimited
from computerouter.wire.errors import error_from_body
from computerouter.wire.events import event_from_dict
from computerouter.wire.session_io import ExecIn, LogLineOut, SandboxSettingsIn

__all__ = [
    "LogSseParser",
    "RetryPolicy",
    "SseParser",
    "exec_body",
    "exec_timeout",
    "raise_for_error",
    "sandbox_settings_body",
    "session_path",
    "user_agent",
]


def user_agent() -> str:
    return "computerouter-python/0.1.0"


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """Retry an error only when the server says it is retryable (its code's ``retryable``),
    or the connection failed; exponential backoff with jitter, honouring ``Retry-After``."""

    attempts: int = 3
    base_s: float = 0.2
    max_s: float = 5.0

    def delay(self, attempt: int, error: ComputeRouterError | None = None) -> float:
        if isinstance(error, RateLimited):
            after = getattr(error, "retry_after_s", None)
            if isinstance(after, int | float):
                return min(self.max_s, float(after))
        backoff: float = min(self.max_s, self.base_s * 2.0**attempt)
        return backoff * (0.5 + random.random() / 2)


def exec_timeout(base: httpx.Timeout, timeout_s: float) -> httpx.Timeout:
    """``base``, with the read timeout waiting ``timeout_s`` longer (a command running)."""
    read = timeout_s + (base.read if base.read is not None else 60.0)
    return httpx.Timeout(base.connect, read=read, write=base.write, pool=base.pool)


def session_path(session_id: str, tail: str = "") -> str:
    """``/v1/compute/sessions/{id}`` and what follows it (``/logs``, ``/exec``)."""
    return f"/v1/compute/sessions/{session_id}{tail}"


def exec_body(argv: Sequence[str], timeout_s: float) -> dict[str, Any]:
    return ExecIn(argv=list(argv), timeout_s=timeout_s).model_dump()


def sandbox_settings_body(
    *,
    idle_suspend_s: float | None,
    archive_after_s: float | None,
    max_run_s: float | None,
    max_uptime_s: float | None,
) -> dict[str, Any]:
    return SandboxSettingsIn(
        idle_suspend_s=idle_suspend_s,
        archive_after_s=archive_after_s,
        max_run_s=max_run_s,
        max_uptime_s=max_uptime_s,
    ).model_dump()


def raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = {"error": {"message": response.text[:200] or f"HTTP {response.status_code}"}}
    raise error_from_body(body, status=response.status_code)


class SseParser:
    """Server-sent events to typed AgentEvents; remembers the last event id for resume."""

    def __init__(self) -> None:
        self.last_id: str | None = None
        self._data: list[str] = []

    def feed(self, lines: Iterator[str]) -> Iterator[AgentEvent]:
        for line in lines:
            event = self.line(line)
            if event is not None:
                yield event

    def line(self, line: str) -> AgentEvent | None:
        if not line:
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            return event_from_dict(json.loads(data))
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "id":
            self.last_id = value
        return None


class LogSseParser:
    """A session's followed logs (``log`` events) to lines; an ``error`` event is raised as
    the server's error class; comments (keep-alives) are skipped."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def line(self, line: str) -> LogLineOut | None:
        if line:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                self._event = value
            elif field == "data":
                self._data.append(value)
            return None
        event, data = self._event, "\n".join(self._data)
        self._event, self._data = "", []
        if not data:
            return None
        if event == "error":
            raise error_from_body(json.loads(data), status=500)
        return LogLineOut.model_validate_json(data) if event == "log" else None
