"""An in-process stand-in for the echo runtime, served for a :class:`FakeProvider` instance.

With ``FakeProvider(serve=True)`` each running instance answers over HTTP on 127.0.0.1 what
the echo runtime (``runtimes/echo/server.py``) answers for the contract suite: ``/health``
with a stable per-instance pid, ``/v1/models``, a non-streaming ``/v1/chat/completions``, and
``/v1/workspace/<name>`` kept in the instance's in-memory workspace. Suspended, it is frozen
in place: connections are accepted, nothing answers until it thaws. Archived or destroyed, its
port is closed. It runs in one daemon thread named :func:`thread_name`, which is what
"processes" means for an in-memory provider.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ServedRuntime", "serving_threads", "thread_name"]

_PREFIX = "/v1/workspace/"


def thread_name(instance_id: str) -> str:
    return f"fake runtime {instance_id}"


def serving_threads(instance_id: str) -> list[int]:
    """Native ids of the live threads serving ``instance_id``, found among all threads."""
    name = thread_name(instance_id)
    return sorted(
        t.native_id or 0 for t in threading.enumerate() if t.name == name and t.is_alive()
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    runtime: ServedRuntime

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a frozen runtime is not an error of the runtime.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-echo-runtime/1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: object, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _admit(self) -> bool:
        """Hold the request while frozen; drop it if the runtime closed meanwhile."""
        runtime = self.server.runtime
        runtime.thawed.wait()
        if runtime.closed:
            self.close_connection = True
            return False
        return True

    def _name(self) -> str | None:
        name = self.path[len(_PREFIX) :]
        if "/" in name or name in ("", ".", ".."):
            self._send(400, {"error": {"message": "bad file name"}})
            return None
        return name

    def do_GET(self) -> None:
        if not self._admit():
            return
        runtime = self.server.runtime
        if self.path == "/health":
            self._send(200, {"status": "ok", "runtime": "echo", "pid": runtime.pid})
        elif self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "echo", "object": "model"}]})
        elif self.path.startswith(_PREFIX):
            name = self._name()
            if name is None:
                return
            with runtime.lock:
                content = runtime.workspace.get(name)
            if content is None:
                self._send(404, {"error": {"message": "no such file"}})
            else:
                self._send(200, content, "application/octet-stream")
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_PUT(self) -> None:
        if not self._admit():
            return
        if not self.path.startswith(_PREFIX):
            self._send(404, {"error": {"message": "not found"}})
            return
        name = self._name()
        if name is None:
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.runtime.lock:
            self.server.runtime.workspace[name] = body
        self._send(200, {"written": name})

    def do_POST(self) -> None:
        if not self._admit():
            return
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": "not found"}})
            return
        try:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            messages = request.get("messages") or []
            text = next(
                (m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), ""
            )
        except (ValueError, AttributeError):
            self._send(400, {"error": {"message": "body must be a JSON chat request"}})
            return
        reply = f"echo: {text}"
        usage = {"prompt_tokens": len(str(text).split()), "completion_tokens": len(reply.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        message = {"role": "assistant", "content": reply}
        choice = {"index": 0, "finish_reason": "stop", "message": message}
        self._send(
            200, {"object": "chat.completion", "model": "echo", "choices": [choice], "usage": usage}
        )


class ServedRuntime:
    """One instance's runtime: started serving, then frozen, thawed, and finally closed.

    ``workspace`` is the instance's own dict, so what is written through HTTP is what archive
    keeps.
    """

    def __init__(
        self,
        *,
        instance_id: str,
        pid: int,
        workspace: dict[str, bytes],
    ) -> None:
        self.pid = pid
        self.workspace = workspace
        self.lock = threading.Lock()
        self.thawed = threading.Event()
        self.thawed.set()
        self.closed = False
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.runtime = self
        self.port = int(self._server.server_address[1])
        self.address = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=thread_name(instance_id),
            daemon=True,
        )
        self._thread.start()
        self.banner = f"echo runtime listening on {self.address}"
        """The line the runtime prints once it listens (the caller writes it to the log)."""

    @property
    def frozen(self) -> bool:
        return not self.closed and not self.thawed.is_set()

    def freeze(self) -> None:
        self.thawed.clear()

    def thaw(self) -> None:
        self.thawed.set()

    def close(self) -> None:
        """Stop serving and close the port; requests held by a freeze are dropped."""
        if self.closed:
            return
        self.closed = True
        self.thawed.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
