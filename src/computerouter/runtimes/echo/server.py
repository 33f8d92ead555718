"""Echo test runtime server. Standard library only; runs inside a session as an unprivileged user.

Listens on TCP 0.0.0.0:COMPUTEROUTER_PORT when a provider reaches sessions over TCP, else on
the unix socket named by COMPUTEROUTER_SOCKET, and answers:
  GET  /health               {"status": "ok", "runtime": "echo", "pid": ...}
  GET  /v1/models            one model, "echo"
  POST /v1/chat/completions  "echo: <last user message>", streaming or not, with usage
  GET  /v1/workspace/<name>  contents of a workspace file (tests check state survives archive)
"""

import contextlib
import json
import os
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler

PORT = os.environ.get("COMPUTEROUTER_PORT", "")
SOCKET = "" if PORT else os.environ["COMPUTEROUTER_SOCKET"]
WORKSPACE = os.environ.get("COMPUTEROUTER_WORKSPACE", ".")
STARTED = time.time()


class Quiet:
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-answer (a readiness probe timing out) is not an error
        # of the runtime: keep its traceback out of the session's output.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[misc]


class Server(Quiet, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class TCPServer(Quiet, socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "echo-runtime/1"

    def log_message(self, format: str, *args: object) -> None:  # keep the socket quiet
        pass

    def address_string(self) -> str:
        return "session"

    def _send(self, status: int, body: object, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(
                200,
                {
                    "status": "ok",
                    "runtime": "echo",
                    "pid": os.getpid(),
                    "uptime_s": round(time.time() - STARTED, 3),
                },
            )
        elif self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "echo", "object": "model"}]})
        elif self.path.startswith("/v1/workspace/"):
            name = self.path[len("/v1/workspace/") :]
            if "/" in name or name in ("", ".", ".."):
                self._send(400, {"error": {"message": "bad file name"}})
                return
            try:
                with open(os.path.join(WORKSPACE, name), "rb") as fh:
                    self._send(200, fh.read(), "application/octet-stream")
            except FileNotFoundError:
                self._send(404, {"error": {"message": "no such file"}})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_PUT(self) -> None:
        if not self.path.startswith("/v1/workspace/"):
            self._send(404, {"error": {"message": "not found"}})
            return
        name = self.path[len("/v1/workspace/") :]
        if "/" in name or name in ("", ".", ".."):
            self._send(400, {"error": {"message": "bad file name"}})
            return
        length = int(self.headers.get("Content-Length", "0"))
        with open(os.path.join(WORKSPACE, name), "wb") as fh:
            fh.write(self.rfile.read(length))
        self._send(200, {"written": name})

    def do_POST(self) -> None:
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": "not found"}})
            return
        length = int(self.headers.get("Content-Length", "0"))
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
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
        ident = f"chatcmpl-echo-{int(time.time() * 1000)}"
        if not request.get("stream"):
            self._send(
                200,
                {
                    "id": ident,
                    "object": "chat.completion",
                    "model": "echo",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": reply},
                        }
                    ],
                    "usage": usage,
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        chunks = [{"role": "assistant"}] + [{"content": w + " "} for w in reply.split()]
        for delta in chunks:
            event = {
                "id": ident,
                "object": "chat.completion.chunk",
                "model": "echo",
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
            }
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        final = {
            "id": ident,
            "object": "chat.completion.chunk",
            "model": "echo",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": usage,
        }
        self.wfile.write(b"data: " + json.dumps(final).encode() + b"\n\ndata: [DONE]\n\n")
        self.close_connection = True


def main() -> None:
    server: socketserver.BaseServer
    if PORT:
        server = TCPServer(("0.0.0.0", int(PORT)), Handler)
        where = f"tcp port {PORT}"
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(SOCKET)
        server = Server(SOCKET, Handler)
        os.chmod(SOCKET, 0o660)
        where = SOCKET
    sys.stdout.write(f"echo runtime listening on {where}\n")
    sys.stdout.flush()
    server.serve_forever(poll_interval=3600)


if __name__ == "__main__":
    main()
