"""Request ids: taken from ``X-Request-Id`` when a caller sends a sane one, made otherwise;
returned on every response and stamped on every log line written while serving it
(:mod:`computerouter.log_format`). With access logging on, each request ends with one line on
the ``computerouter.access`` logger: method, path (no query: it may hold a key), status and
milliseconds."""

from __future__ import annotations

import contextvars
import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from computerouter.domain.ids import new_id
from computerouter.log_format import bind_ids, reset_ids

__all__ = ["REQUEST_ID_HEADER", "RequestIdMiddleware", "current_request_id"]

REQUEST_ID_HEADER = "x-request-id"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
access_log = logging.getLogger("computerouter.access")


def current_request_id() -> str:
    return _current.get()


class RequestIdMiddleware:
    """Pure ASGI (no buffering), so streaming responses stream."""

    def __init__(self, app: ASGIApp, *, access: bool = False) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = ""
        for name, value in scope.get("headers", ()):
            if name == REQUEST_ID_HEADER.encode():
                given = value.decode("latin-1")
                break
        request_id = given if _SANE.match(given) else new_id("req")
        token = _current.set(request_id)
        ids = bind_ids(request_id=request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", ()))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access:
                access_log.info(
                    "%s %s %d",
                    scope.get("method", ""),
                    scope.get("path", ""),
                    status,
                    extra={
                        "method": scope.get("method", ""),
                        "path": scope.get("path", ""),
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 3),
                    },
                )
            reset_ids(ids)
            _current.reset(token)
