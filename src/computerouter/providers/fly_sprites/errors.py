"""The one place where Sprites SDK errors become computerouter errors.

Every SDK call of the provider runs inside :func:`translate`. The SDK reports failures three
ways, all handled here: a structured :class:`sprites.exceptions.APIError` (exec WebSockets,
services, checkpoints, policy), a typed ``AuthenticationError`` / ``NotFoundError`` /
``NetworkError`` / ``TimeoutError``, and a plain ``SpriteError`` whose message ends
``(status NNN): <body>`` (the REST sprite calls); that body is parsed with the SDK's own
``parse_api_error``, so the vendor's error code and ``retry_after_seconds`` survive.

The mapping is one table from (HTTP status, vendor error code) to our class and ``retryable``.
The adapter never sleeps on a Retry-After: it raises with ``retry_after_s`` and the router's
health circuit honours it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from computerouter.errors import (
    ComputeRouterError,
    InstanceNotFound,
    ProviderError,
    ProviderUnavailable,
)

__all__ = ["PROVIDER", "Classified", "classify", "from_sdk", "translate"]

PROVIDER = "fly_sprites"

CONCURRENT_LIMIT = "concurrent_sprite_limit_exceeded"
CREATION_RATE_LIMITED = "sprite_creation_rate_limited"

_STATUS_IN_MESSAGE = re.compile(r"\(status (\d{3})\): ?(.*)\Z", re.DOTALL)


@dataclass(frozen=True, kw_only=True, slots=True)
class Classified:
    kind: type[ProviderError]
    retryable: bool
    reason: str


# Vendor error codes first: they say more than the status they come with.
_BY_CODE: dict[str, Classified] = {
    CONCURRENT_LIMIT: Classified(
        kind=ProviderUnavailable, retryable=True, reason="concurrent sprite limit reached"
    ),
    CREATION_RATE_LIMITED: Classified(
        kind=ProviderUnavailable, retryable=True, reason="sprite creation rate limited"
    ),
}

_BY_STATUS: dict[int, Classified] = {
    400: Classified(kind=ProviderError, retryable=False, reason="request refused"),
    401: Classified(
        kind=ProviderUnavailable,
        retryable=False,
        reason="token refused: set providers.fly_sprites.token (SPRITES_TOKEN)",
    ),
    403: Classified(kind=ProviderUnavailable, retryable=False, reason="token not allowed"),
    404: Classified(kind=InstanceNotFound, retryable=False, reason="not found"),
    408: Classified(kind=ProviderError, retryable=True, reason="request timed out"),
    409: Classified(kind=ProviderError, retryable=False, reason="conflict"),
    422: Classified(kind=ProviderError, retryable=False, reason="request refused"),
    429: Classified(kind=ProviderUnavailable, retryable=True, reason="rate limited"),
}

_SERVER = Classified(kind=ProviderUnavailable, retryable=True, reason="service unavailable")
_OTHER = Classified(kind=ProviderError, retryable=False, reason="request failed")


def classify(status: int | None, error_code: str | None = None) -> Classified:
    """(HTTP status, vendor error code) -> our class and retryability; pure."""
    if error_code and error_code in _BY_CODE:
        return _BY_CODE[error_code]
    if status is None:
        return Classified(kind=ProviderUnavailable, retryable=True, reason="unreachable")
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return _SERVER
    return _OTHER


def _build(
    found: Classified, where: str, instance_id: str, detail: str, retry_after: float | None
) -> ProviderError:
    if found.kind is InstanceNotFound:
        return InstanceNotFound(provider=PROVIDER, instance_id=instance_id or where)
    message = f"{where}: {found.reason}" + (f" ({detail})" if detail else "")
    return found.kind(
        message, provider=PROVIDER, retryable=found.retryable, retry_after_s=retry_after
    )


def from_sdk(exc: BaseException, *, where: str, instance_id: str = "") -> ProviderError:
    """Translate one exception raised by the SDK (or by httpx under it)."""
    from sprites import exceptions as sx

    if isinstance(exc, sx.APIError):
        retry = exc.get_retry_after_seconds()
        return _build(
            classify(exc.status_code, exc.error_code),
            where,
            instance_id,
            exc.error_code or str(exc)[:200],
            float(retry) if retry else None,
        )
    if isinstance(exc, sx.AuthenticationError):
        return _build(classify(401), where, instance_id, "", None)
    if isinstance(exc, sx.NotFoundError):
        return _build(classify(404), where, instance_id, "", None)
    if isinstance(exc, sx.TimeoutError | sx.NetworkError | httpx.TransportError | TimeoutError):
        return ProviderUnavailable(
            f"{where}: unreachable ({exc})", provider=PROVIDER, retryable=True
        )
    if isinstance(exc, sx.SpriteError):
        matched = _STATUS_IN_MESSAGE.search(str(exc))
        if matched:
            status, body = int(matched.group(1)), matched.group(2)
            parsed = sx.parse_api_error(status, body.encode())
            if parsed is not None:
                return from_sdk(parsed, where=where, instance_id=instance_id)
        return ProviderError(f"{where}: {exc}", provider=PROVIDER)
    return ProviderError(f"{where}: {type(exc).__name__}: {exc}", provider=PROVIDER)


@contextmanager
def translate(operation: str, instance_id: str = "") -> Iterator[None]:
    where = f"{operation} {instance_id}".strip()
    try:
        yield
    except ComputeRouterError:
        raise
    except Exception as exc:
        raise from_sdk(exc, where=where, instance_id=instance_id) from exc
