"""Per-key rate limits: a token bucket per API key, in this process."""

from __future__ import annotations

import threading
import time

from computerouter.errors import RateLimited

__all__ = ["RateLimiter"]


class RateLimiter:
    """``rate`` requests per second on average, ``burst`` at once; ``rate <= 0``: no limit."""

    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, *, now: float | None = None) -> None:
        """Take one token for ``key`` or raise :class:`RateLimited` with the wait."""
        if self.rate <= 0:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, then = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
                raise RateLimited(
                    f"too many requests for this API key; retry in {wait:.2f} s",
                    retry_after_s=round(wait, 3),
                )
            self._buckets[key] = (tokens - 1.0, now)
