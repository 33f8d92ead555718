"""What the sync and async clients share: retry policy, error decoding, SSE parsing."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from computerouter.domain.events import AgentEvent
from computerouter.errors import ComputeRouterError, RateLimited
from computerouter.wire.errors import error_from_body
from computerouter.wire.events import event_from_dict

__all__ = ["RetryPolicy", "SseParser", "raise_for_error", "user_agent"]


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
