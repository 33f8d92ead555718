"""One table: each error class ↔ an HTTP status and its stable ``code``, used both ways.

The server renders a :class:`~computerouter.errors.ComputeRouterError` with :func:`error_body`
and :func:`status_for`; the SDK turns that body back into the same class with
:func:`error_from_body`. Every error body has one shape::

    {"error": {"code": "session_not_found", "message": "...", "retryable": false,
               "request_id": "req_...", "details": {"session_id": "ses_..."}}}

``details`` carries the error's typed attributes (``provider``, ``failover_history``,
``available``/``required``, ``retry_after_s`` …), so a caller never parses the message.
The shape is compatible with OpenAI's (``error.message``, ``error.code``), so OpenAI clients
show our errors as they show theirs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, is_dataclass
from typing import Any

from computerouter import errors as e
from computerouter.store.agents import AgentNotFound

__all__ = [
    "ERROR_TABLE",
    "ErrorSpec",
    "error_body",
    "error_from_body",
    "spec_for",
    "status_for",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class ErrorSpec:
    cls: type[e.ComputeRouterError]
    status: int
    meaning: str

    @property
    def code(self) -> str:
        return self.cls.code


ERROR_TABLE: tuple[ErrorSpec, ...] = (
    ErrorSpec(cls=e.ComputeRouterError, status=500, meaning="an unexpected server error"),
    ErrorSpec(cls=e.ConfigError, status=500, meaning="the server's settings are unusable"),
    ErrorSpec(cls=e.InputError, status=400, meaning="bad input: fix the request"),
    ErrorSpec(cls=e.Unauthorized, status=401, meaning="no API key, or an unknown/revoked one"),
    ErrorSpec(cls=e.Forbidden, status=403, meaning="an admin-only operation"),
    ErrorSpec(cls=e.RateLimited, status=429, meaning="too many requests; see Retry-After"),
    ErrorSpec(cls=e.NotFound, status=404, meaning="no such resource (for this caller)"),
    ErrorSpec(cls=e.SessionNotFound, status=404, meaning="no such compute session"),
    ErrorSpec(cls=e.RunNotFound, status=404, meaning="no such run"),
    ErrorSpec(cls=AgentNotFound, status=404, meaning="no agent at that address"),
    ErrorSpec(cls=e.Conflict, status=409, meaning="conflicts with the current state"),
    ErrorSpec(cls=e.InvalidTransition, status=409, meaning="the lifecycle forbids that change"),
    ErrorSpec(cls=e.StaleState, status=409, meaning="changed meanwhile; retry"),
    ErrorSpec(cls=e.SessionDataKept, status=409, meaning="a failed session's memory is kept"),
    ErrorSpec(cls=e.LogsArchived, status=409, meaning="the logs are in the session's archive"),
    ErrorSpec(cls=e.Paused, status=503, meaning="a kill switch refuses runs now"),
    ErrorSpec(cls=e.CapReached, status=429, meaning="a per-user cap is reached"),
    ErrorSpec(cls=e.InsufficientCredit, status=402, meaning="the balance cannot cover a run"),
    ErrorSpec(cls=e.StoreError, status=503, meaning="the database failed; retry"),
    ErrorSpec(cls=e.ProviderError, status=502, meaning="a provider call failed"),
    ErrorSpec(cls=e.ProviderUnavailable, status=503, meaning="the provider cannot serve now"),
    ErrorSpec(cls=e.InstanceNotFound, status=502, meaning="the provider lost the instance"),
    ErrorSpec(cls=e.IsolationUnavailable, status=503, meaning="the host cannot isolate sessions"),
    ErrorSpec(cls=e.RuntimeFailure, status=502, meaning="the runtime did not start or answer"),
    ErrorSpec(cls=e.SecretKeyMissing, status=500, meaning="a secret's key is not configured"),
    ErrorSpec(cls=e.SecretUnreadable, status=500, meaning="a stored secret does not decrypt"),
    ErrorSpec(cls=e.SessionUnavailable, status=503, meaning="no usable session could be made"),
)
"""Every error class of :mod:`computerouter.errors` (a test pins that none is missing)."""

_BY_CLASS = {spec.cls: spec for spec in ERROR_TABLE}
_BY_CODE = {spec.code: spec for spec in ERROR_TABLE}
_BASE_ATTRS = frozenset({"message", "retryable", "args"})


def spec_for(exc: e.ComputeRouterError) -> ErrorSpec:
    """The entry of ``exc``'s class, or of its nearest listed ancestor."""
    for cls in type(exc).__mro__:
        spec = _BY_CLASS.get(cls)
        if spec is not None:
            return spec
    return _BY_CLASS[e.ComputeRouterError]  # pragma: no cover - every error derives from it


def status_for(exc: e.ComputeRouterError) -> int:
    return spec_for(exc).status


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def error_body(exc: e.ComputeRouterError, *, request_id: str = "") -> dict[str, Any]:
    details = {k: _jsonable(v) for k, v in vars(exc).items() if k not in _BASE_ATTRS}
    return {
        "error": {
            "code": spec_for(exc).code,
            "message": exc.message,
            "retryable": bool(exc.retryable),
            "request_id": request_id,
            "details": details,
        }
    }


def error_from_body(body: Any, *, status: int) -> e.ComputeRouterError:
    """The server's error as the class it raised (or its nearest listed ancestor).

    The instance is built without calling the class's own constructor (each takes different
    arguments); its message, ``retryable`` and typed attributes come from the body.
    """
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = str(error.get("code") or "")
    spec = _BY_CODE.get(code) or _fallback(status)
    exc = spec.cls.__new__(spec.cls)
    message = str(error.get("message") or f"HTTP {status}")
    e.ComputeRouterError.__init__(exc, message)
    retryable = bool(error.get("retryable", spec.cls.retryable))
    if retryable != spec.cls.retryable:
        exc.retryable = retryable
    details = error.get("details")
    if isinstance(details, dict):
        for key, value in details.items():
            if key in _BASE_ATTRS:
                continue
            if key == "failover_history" and isinstance(value, list):
                attempts = (e.FailoverAttempt(**item) for item in value if isinstance(item, dict))
                setattr(exc, key, tuple(attempts))
            else:
                setattr(exc, key, value)
    exc.request_id = str(error.get("request_id") or "")  # type: ignore[attr-defined]
    return exc


_FALLBACK = {
    400: e.InputError,
    401: e.Unauthorized,
    403: e.Forbidden,
    404: e.NotFound,
    409: e.Conflict,
    429: e.RateLimited,
}


def _fallback(status: int) -> ErrorSpec:
    """An unknown code (a newer server, a proxy): the general class for the status."""
    return _BY_CLASS[_FALLBACK.get(status, e.ComputeRouterError)]
