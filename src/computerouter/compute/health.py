"""Provider health as this control plane has seen it: a provider whose create failed cools
down for a while and is skipped by fail-over, then is tried again (the re-probe)."""

from __future__ import annotations

import threading

__all__ = ["ProviderHealth"]


class ProviderHealth:
    def __init__(self, *, cooldown_s: float) -> None:
        self._cooldown_s = cooldown_s
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def available(self, provider: str, *, now: float) -> bool:
        with self._lock:
            return self._until.get(provider, 0.0) <= now

    def failed(self, provider: str, *, now: float) -> None:
        with self._lock:
            self._until[provider] = now + self._cooldown_s

    def succeeded(self, provider: str) -> None:
        with self._lock:
            self._until.pop(provider, None)

    def cooling(self, *, now: float) -> dict[str, float]:
        """Providers cooling down, with the time they will be tried again."""
        with self._lock:
            return {p: t for p, t in self._until.items() if t > now}
