"""The control plane's own log lines: plain text for a terminal, or one JSON object per line
for a log shipper, each stamped with the ids of what it is about.

Ids are bound to the current context (:func:`log_ids`): a request binds its ``request_id``
(:mod:`computerouter.api.request_ids`), a run its ``run_id``, ``user_id``, ``sandbox_id``,
``agent_id`` and, once placed, its ``session_id``; every line written meanwhile carries them.
Ids only: no message text, header or setting that could hold a credential is added here.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import time
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "ID_FIELDS",
    "LOG_FORMATS",
    "IdsFilter",
    "JsonFormatter",
    "bind_ids",
    "configure_logging",
    "log_ids",
    "reset_ids",
]

ID_FIELDS: Final = ("request_id", "user_id", "sandbox_id", "agent_id", "run_id", "session_id")
LOG_FORMATS: Final = ("text", "json")

_NONE: Mapping[str, str] = MappingProxyType({})
_ids: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("log_ids", default=_NONE)
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def bind_ids(**ids: str | None) -> contextvars.Token[Mapping[str, str]]:
    """Add ``ids`` (``None`` or empty ones are skipped) to the current context's;
    :func:`reset_ids` with the token undoes it (:func:`log_ids` does both)."""
    merged = dict(_ids.get())
    merged.update({k: v for k, v in ids.items() if v})
    return _ids.set(merged)


def reset_ids(token: contextvars.Token[Mapping[str, str]]) -> None:
    _ids.reset(token)


@contextlib.contextmanager
def log_ids(**ids: str | None) -> Iterator[None]:
    """Every line logged in this block carries ``ids``."""
    token = bind_ids(**ids)
    try:
        yield
    finally:
        reset_ids(token)


def current_ids() -> Mapping[str, str]:
    return _ids.get()


class IdsFilter(logging.Filter):
    """Puts the bound ids on each record as attributes (an attribute already set wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _ids.get().items():
            if not getattr(record, name, ""):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (RFC 3339, UTC, ms), ``level``, ``logger``, ``msg``,
    the bound ids, any ``extra=`` fields, and ``exc`` (the traceback) for an exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": _rfc3339(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in ID_FIELDS:
            value = getattr(record, name, "")
            if value:
                out[name] = value
        for name, value in record.__dict__.items():
            if name not in _STANDARD and name not in out and not name.startswith("_"):
                out[name] = value if isinstance(value, int | float | bool | str) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


class _TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s%(ids)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = [f"{n}={getattr(record, n)}" for n in ID_FIELDS if getattr(record, n, "")]
        record.ids = f" [{' '.join(ids)}]" if ids else ""
        return super().format(record)


def _rfc3339(created: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{whole}.{int(created % 1 * 1000):03d}Z"


def configure_logging(
    log_format: str, *, level: int = logging.INFO, handler: logging.Handler | None = None
) -> logging.Handler:
    """Send the root logger's lines to ``handler`` (stderr by default) in ``log_format``."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    handler = handler or logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else _TextFormatter())
    handler.addFilter(IdsFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
