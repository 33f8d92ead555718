"""The stand-in's HTTP server: a ThreadingHTTPServer on loopback, HTTP/1.1 keep-alive.

Streams go out with chunked transfer encoding so a client can reuse the connection.
"""

from __future__ import annotations

import hmac
import itertools
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from computerouter.standin import wire
from computerouter.standin.script import LABEL, MODEL_ID, Message, Verdict, message_text, reply
from computerouter.standin.wire import Json

DEFAULT_SLOW_SECONDS = 15.0
# How often serve_forever looks for shutdown(); close() waits up to this long.
_POLL_SECONDS = 0.05


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Set by StandinModel before serving; read by handler threads.
    model: StandinModel

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing a kept-alive connection, or hanging up mid-stream (a cancelled run),
        # is normal here; anything else is a bug and keeps the default traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "computerouter-standin/1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # tests and the demo read the request log, not stderr

    # -- plumbing ---------------------------------------------------------------------------

    def _headers(self, status: int, content_type: str, length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("X-Computerouter-Standin", "true")
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _json(self, status: int, body: Json) -> None:
        data = json.dumps(body).encode()
        self._headers(status, "application/json", len(data))
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _authorized(self) -> bool:
        key = self.server.model.api_key
        if key is None:
            return True
        given = self.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
            return True
        self._json(
            401, wire.error("missing or wrong API key", "invalid_request_error", "invalid_api_key")
        )
        return False

    def _body(self, raw: bytes) -> Json | None:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            problem = wire.error(
                "body must be a JSON chat request", "invalid_request_error", "bad_request"
            )
            self._json(400, problem)
            return None
        return body

    # -- routes -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        if self.path == "/health":
            self._json(200, {"status": "ok", "model": MODEL_ID, "standin": LABEL})
        elif self.path == "/v1/models":
            if self._authorized():
                self._json(200, wire.models())
        else:
            self._json(404, wire.error("not found", "invalid_request_error", "not_found"))

    def do_POST(self) -> None:
        # Read the body first, whatever the answer, so the kept-alive connection stays in step.
        raw = self.rfile.read(int(self.headers.get("Content-Length") or "0"))
        if self.path != "/v1/chat/completions":
            self._json(404, wire.error("not found", "invalid_request_error", "not_found"))
            return
        if not self._authorized():
            return
        body = self._body(raw)
        if body is None:
            return
        model = self.server.model
        model._log(body)
        messages = [
            Message(role=str(m.get("role", "")), text=message_text(m.get("content")))
            for m in body["messages"]
            if isinstance(m, dict)
        ]
        answer = reply(messages, verdict=model.verdict)
        if answer.slow:
            model._closing.wait(model.slow_seconds)
        if answer.fail:
            self._json(500, wire.error("FAIL trigger", "server_error", "standin_fail"))
            return
        ident, created = model._next_id(), int(time.time())
        spent = wire.usage(messages, answer)
        if not body.get("stream"):
            self._json(200, wire.completion(ident, created, answer, spent))
            return
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self._headers(200, "text/event-stream", None)
        for event in wire.chunks(ident, created, answer, spent, include_usage=include_usage):
            self._chunk(wire.sse(event))
        self._chunk(wire.sse("[DONE]"))
        self._chunk(b"")  # zero-length chunk ends the body; the connection stays open


class StandinModel:
    """An OpenAI-compatible stand-in model server, in a thread of this process.

    ``with StandinModel() as model:`` starts it on a free loopback port; ``model.base_url`` is
    the OpenAI base URL (ending in ``/v1``), ``model.requests`` the chat request bodies received
    so far, oldest first. With ``api_key`` set, every ``/v1`` call must carry
    ``Authorization: Bearer <api_key>``. ``slow_seconds`` is how long ``SLOW`` waits (cut short
    by ``close()``); ``verdict`` is the one word given to Hermes's approval judge.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        *,
        slow_seconds: float = DEFAULT_SLOW_SECONDS,
        verdict: Verdict = Verdict.ESCALATE,
    ) -> None:
        self.api_key = api_key
        self.slow_seconds = slow_seconds
        self.verdict = verdict
        self._requests: list[Json] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._closing = threading.Event()
        self._server = _Server((host, port), _Handler)
        self._server.model = self
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[Json]:
        with self._lock:
            return list(self._requests)

    def start(self) -> StandinModel:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                args=(_POLL_SECONDS,),
                name="standin-model",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (used by ``python -m``)."""
        self._server.serve_forever()

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> StandinModel:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _log(self, body: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(body)

    def _next_id(self) -> str:
        with self._lock:
            return f"chatcmpl-standin-{next(self._ids)}"
