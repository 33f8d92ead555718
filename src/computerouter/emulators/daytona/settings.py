"""How the Daytona emulator behaves: timings, regions, its API key, and the faults it injects."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["EmulatorSettings", "Fault", "Faults", "Timings"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Timings:
    """Seconds each transition takes, defaulting to Daytona's published figures (sandboxes
    start in well under a second from a snapshot; an archived sandbox comes back from object
    storage in tens of seconds). ``speed`` divides them all, so tests run fast."""

    create_s: float = 0.2
    start_s: float = 0.15
    stop_s: float = 0.2
    archive_s: float = 5.0
    restore_s: float = 30.0
    delete_s: float = 0.2
    speed: float = 1.0

    def scaled(self, seconds: float) -> float:
        return seconds / self.speed if self.speed > 0 else 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class EmulatorSettings:
    api_key: str = "emulator-key"
    organization_id: str = "org-emulated"
    regions: tuple[str, ...] = ("us", "eu")
    default_region: str = "us"
    timings: Timings = field(default_factory=Timings)
    images: tuple[tuple[str, str, str], ...] = ()
    """(snapshot name, host directory, target path inside the sandbox)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Fault:
    """One injected failure: the next ``count`` requests matching ``route`` (a substring of
    ``METHOD /path``; '' matches all) answer ``status`` (0: no answer until ``delay_s`` passed,
    then handled normally, i.e. slowness or a client timeout), or with ``vanish`` the sandbox
    named in the path disappears."""

    route: str = ""
    status: int = 500
    message: str = "injected fault"
    retry_after_s: float | None = None
    delay_s: float = 0.0
    count: int = 1
    vanish: bool = False


class Faults:
    """The faults waiting to fire, consumed in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[list[object]] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._pending.append([fault, fault.count])

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def fired(self) -> int:
        """How many requests the faults waiting now have answered so far."""
        fired = 0
        with self._lock:
            for fault, left in self._pending:
                assert isinstance(fault, Fault)
                assert isinstance(left, int)
                fired += fault.count - left
        return fired

    def take(self, request_line: str) -> Fault | None:
        with self._lock:
            for entry in self._pending:
                fault, left = entry
                assert isinstance(fault, Fault)
                assert isinstance(left, int)
                if fault.route in request_line:
                    if left <= 1:
                        self._pending.remove(entry)
                    else:
                        entry[1] = left - 1
                    return fault
        return None
