"""Request ids: taken from ``X-Request-Id`` when a caller sends a sane one, made otherwise;
returned on every response and stamped on every log line written while serving it."""

from __future__ import annotations

import contextvars
import logging
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from computerouter.domain.ids import new_id

__all__ = ["REQUEST_ID_HEADER", "RequestIdFilter", "RequestIdMiddleware", "current_request_id"]

REQUEST_ID_HEADER = "x-request-id"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current_request_id() -> str:
    return _current.get()


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to log records (empty outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get()
        return True


class RequestIdMiddleware:
    """Pure ASGI (no buffering), so streaming responses stream."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)
