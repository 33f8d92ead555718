"""Injected faults of the Sprites emulator: each matches a method and a path pattern and fires
``count`` times (``-1``: until cleared).

A fault is a status with a vendor error code and retry-after (``429`` +
``sprite_creation_rate_limited``, ``503``...), a delay before answering (slowness, or a
timeout when it outlasts the client), or both.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["Fault", "Faults"]


@dataclass(kw_only=True)
class Fault:
    method: str = "*"
    path: str = ".*"
    """A regular expression matched against the whole request path."""
    status: int = 0
    error: str = ""
    retry_after_s: int | None = None
    delay_s: float = 0.0
    count: int = 1

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Fault:
        known = {"method", "path", "status", "error", "retry_after_s", "delay_s", "count"}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and re.fullmatch(self.path, path) is not None


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.count > 0:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
        return None
