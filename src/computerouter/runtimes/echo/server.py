"""Echo test runtime server. Standard library only; runs inside a session as an unprivileged user.

A test runtime, not an agent: it repeats what it is told, at the speed of a socket, so tests and
benchmarks see the router's own cost rather than a model's.

Listens on TCP 0.0.0.0:COMPUTEROUTER_PORT when a provider reaches sessions over TCP, else on
the unix socket named by COMPUTEROUTER_SOCKET (HTTP/1.1 keep-alive, one thread per connection),
and answers:
  GET  /health                    {"status": "ok", "runtime": "echo", "pid": ...}
  GET  /v1/models                 one model, "echo"
  POST /v1/chat/completions       "echo: <last user message>", streaming (one chunk per word,
                                  chunked transfer so the connection is kept) or not, with usage
  GET  /v1/conversations/<id>     the messages of one conversation (memory only)
  GET  /v1/workspace/<name>       contents of a workspace file (tests check state survives archive)
  PUT  /v1/workspace/<name>       write one

A chat request naming a conversation (header X-Echo-Conversation) adds its user message and the
reply to that conversation's history, kept in memory (the last HISTORY_MAX messages); its
prompt tokens count the system message, that history and the input, as a model's would.

Test hooks, by the last user message (a test runtime's only; nothing else reads them):
  "/fail NNN ..."   answers HTTP NNN (400-599) with an OpenAI-style error body
  "/slow S ..."     waits S seconds (at most 10) before each streamed chunk
"""

import contextlib
import json
import os
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

PORT = os.environ.get("COMPUTEROUTER_PORT", "")
SOCKET = "" if PORT else os.environ["COMPUTEROUTER_SOCKET"]
WORKSPACE = os.environ.get("COMPUTEROUTER_WORKSPACE", ".")
STARTED = time.time()
HISTORY_MAX = 200
CONVERSATION_HEADER = "X-Echo-Conversation"
SLOW_MAX_S = 10.0

_conversations: dict[str, list[dict[str, str]]] = {}
_lock = threading.Lock()


class Quiet:
    # Connections arrive in bursts (a pool of clients opening at once): the default backlog of
    # 5 would refuse some of them.
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-answer (a readiness probe timing out, a cancelled turn)
        # is not an error of the runtime: keep its traceback out of the session's output.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[misc]


class Server(Quiet, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class TCPServer(Quiet, socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _words(text: str) -> int:
    return len(text.split())


def _hooks(text: str) -> tuple[int, float, str]:
    """The status a ``/fail`` asks for (0: none), the delay a ``/slow`` asks for, and the text
    with the hooks taken off."""
    status, delay = 0, 0.0
    parts = text.split(" ", 2)
    if len(parts) >= 2 and parts[0] == "/fail" and parts[1].isdigit():
        status = int(parts[1]) if 400 <= int(parts[1]) <= 599 else 500
    elif len(parts) >= 2 and parts[0] == "/slow":
        with contextlib.suppress(ValueError):
            delay = min(max(float(parts[1]), 0.0), SLOW_MAX_S)
            text = parts[2] if len(parts) > 2 else ""
    return status, delay, text


def _remember(conversation: str, text: str, reply: str) -> int:
    """Add one exchange to ``conversation``; the words of what came before it."""
    if not conversation:
        return 0
    with _lock:
        history = _conversations.setdefault(conversation, [])
        before = sum(_words(m["content"]) for m in history)
        history += [{"role": "user", "content": text}, {"role": "assistant", "content": reply}]
        del history[:-HISTORY_MAX]
    return before


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

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "echo_error", "code": status}})

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
        elif self.path.startswith("/v1/conversations/"):
            with _lock:
                messages = list(_conversations.get(self.path[len("/v1/conversations/") :], ()))
            self._send(200, {"object": "list", "data": messages})
        elif self.path.startswith("/v1/workspace/"):
            name = self.path[len("/v1/workspace/") :]
            if "/" in name or name in ("", ".", ".."):
                self._error(400, "bad file name")
                return
            try:
                with open(os.path.join(WORKSPACE, name), "rb") as fh:
                    self._send(200, fh.read(), "application/octet-stream")
            except FileNotFoundError:
                self._error(404, "no such file")
        else:
            self._error(404, "not found")

    def do_PUT(self) -> None:
        if not self.path.startswith("/v1/workspace/"):
            self._error(404, "not found")
            return
        name = self.path[len("/v1/workspace/") :]
        if "/" in name or name in ("", ".", ".."):
            self._error(400, "bad file name")
            return
        length = int(self.headers.get("Content-Length", "0"))
        with open(os.path.join(WORKSPACE, name), "wb") as fh:
            fh.write(self.rfile.read(length))
        self._send(200, {"written": name})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)  # read even when refused, so the connection stays usable
        if self.path != "/v1/chat/completions":
            self._error(404, "not found")
            return
        try:
            request = json.loads(raw or b"{}")
            messages = request.get("messages") or []
            text = next(
                (m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), ""
            )
            system = " ".join(
                str(m.get("content", "")) for m in messages if m.get("role") == "system"
            )
        except (ValueError, AttributeError):
            self._error(400, "body must be a JSON chat request")
            return
        status, delay, text = _hooks(str(text))
        if status:
            self._error(status, f"echo was asked to fail with HTTP {status}")
            return
        reply = f"echo: {text}"
        before = _remember(self.headers.get(CONVERSATION_HEADER, ""), text, reply)
        prompt = _words(system) + before + _words(text)
        usage = {"prompt_tokens": prompt, "completion_tokens": _words(reply)}
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
        self._stream(ident, reply, usage, delay)

    def _stream(self, ident: str, reply: str, usage: dict[str, int], delay: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        words = reply.split(" ")
        # The pieces join to the reply exactly: the first word, then each next one with its space.
        deltas = [{"role": "assistant", "content": ""}] + [
            {"content": word if i == 0 else " " + word} for i, word in enumerate(words)
        ]
        for delta in deltas:
            if delay and "role" not in delta:
                time.sleep(delay)
            self._chunk(
                {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "model": "echo",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
            )
        self._chunk(
            {
                "id": ident,
                "object": "chat.completion.chunk",
                "model": "echo",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": usage,
            },
            last=True,
        )

    def _chunk(self, event: object, *, last: bool = False) -> None:
        data = b"data: " + json.dumps(event).encode() + b"\n\n"
        if last:
            data += b"data: [DONE]\n\n"
        frame = b"%x\r\n%s\r\n" % (len(data), data)
        self.wfile.write(frame + b"0\r\n\r\n" if last else frame)


class TCPHandler(Handler):
    # Small streamed writes must not wait for the peer's delayed ACK (Nagle).
    disable_nagle_algorithm = True


def main() -> None:
    server: socketserver.BaseServer
    if PORT:
        server = TCPServer(("0.0.0.0", int(PORT)), TCPHandler)
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
