"""The one place where Daytona SDK errors become computerouter errors.

Every SDK call of the provider runs inside :func:`translate`. What the SDK raises is a
``DaytonaError`` subclass chosen from the HTTP status (or a transport error it wrapped); this
module maps it, once, onto the error tree::

    429 rate limited            ProviderError          retryable, retry_after_s from Retry-After
    500 / 502 / 503 / 504       ProviderUnavailable    retryable (Retry-After honoured on 503)
    connection refused / reset  ProviderUnavailable    retryable
    request timed out           ProviderError          retryable
    queue timeout (no runner)   ProviderUnavailable    retryable: capacity, try elsewhere
    spot eviction               ProviderError          retryable
    quota / capacity exceeded   ProviderUnavailable    retryable: capacity, try elsewhere
    401 / 403                   ProviderUnavailable    not retryable: the API key is refused
    404 / 410 on an instance    InstanceNotFound
    409 (a transition running)  ProviderError          retryable
    400 / 422 / anything else   ProviderError          not retryable

The adapter never sleeps on Retry-After itself: the router's health circuit honours
``retry_after_s``.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from computerouter.errors import (
    ComputeRouterError,
    InstanceNotFound,
    ProviderError,
    ProviderUnavailable,
)

__all__ = ["PROVIDER", "from_daytona", "retry_after", "translate"]

PROVIDER = "daytona"

# Daytona's API answers an exhausted organisation quota (CPU, memory, disk, sandbox count) with
# 403 and a message, no machine code; these words are how it says so.
_CAPACITY_WORDS = ("quota", "limit exceeded", "no available runner", "capacity")
_CAPACITY_CODES = frozenset({"QUOTA_EXCEEDED", "CAPACITY_EXCEEDED", "NO_RUNNER_AVAILABLE"})


def retry_after(headers: Mapping[str, Any], *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), else None."""
    raw = next((str(v) for k, v in headers.items() if k.lower() == "retry-after"), None)
    if raw is None or not raw.strip():
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _is_capacity(exc: Any) -> bool:
    code = str(getattr(exc, "code", "") or "").upper()
    message = str(getattr(exc, "message", exc)).lower()
    return code in _CAPACITY_CODES or any(word in message for word in _CAPACITY_WORDS)


def from_daytona(exc: BaseException, *, where: str, instance_id: str = "") -> ProviderError:
    """The computerouter error for an exception the Daytona SDK raised."""
    from daytona import (
        DaytonaConnectionError,
        DaytonaError,
        DaytonaQueueTimeoutError,
        DaytonaSpotEvictedError,
        DaytonaTimeoutError,
    )

    if not isinstance(exc, DaytonaError):
        return ProviderError(f"{where}: {exc}", provider=PROVIDER)
    status = exc.status_code
    message = f"{where}: {exc.message}"
    after = retry_after(exc.headers)
    if status == 429:
        return ProviderError(message, provider=PROVIDER, retryable=True, retry_after_s=after)
    if isinstance(exc, DaytonaQueueTimeoutError):
        return ProviderUnavailable(message, provider=PROVIDER, retryable=True)
    if isinstance(exc, DaytonaSpotEvictedError):
        return ProviderError(message, provider=PROVIDER, retryable=True)
    if status in (401, 403) and not _is_capacity(exc):
        return ProviderUnavailable(
            f"{where}: the API key was refused ({status}): set a valid daytona api_key",
            provider=PROVIDER,
        )
    if _is_capacity(exc) and status in (None, 403, 429, 503):
        return ProviderUnavailable(message, provider=PROVIDER, retryable=True, retry_after_s=after)
    if status in (404, 410) and instance_id:
        return InstanceNotFound(provider=PROVIDER, instance_id=instance_id)
    if status is not None and status >= 500:
        return ProviderUnavailable(message, provider=PROVIDER, retryable=True, retry_after_s=after)
    if status == 409:
        return ProviderError(message, provider=PROVIDER, retryable=True, retry_after_s=after)
    if isinstance(exc, DaytonaConnectionError) and not isinstance(exc, DaytonaTimeoutError):
        return ProviderUnavailable(message, provider=PROVIDER, retryable=True)
    if (isinstance(exc, DaytonaTimeoutError) and status is None) or status == 408:
        return ProviderError(message, provider=PROVIDER, retryable=True)
    return ProviderError(message, provider=PROVIDER)


@contextmanager
def translate(operation: str, instance_id: str = "") -> Iterator[None]:
    """Run SDK calls; what escapes is a :class:`ComputeRouterError`, the SDK's as its cause."""
    where = f"{operation} {instance_id}".strip()
    try:
        yield
    except ComputeRouterError:
        raise
    except Exception as exc:
        raise from_daytona(exc, where=where, instance_id=instance_id) from exc
