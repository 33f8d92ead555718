"""The in-sandbox agent of the Daytona emulator. Standard library only; runs inside a local session.

It stands in for Daytona's in-sandbox daemon. The emulator forwards the toolbox and preview
traffic of a sandbox to it over the session's unix socket ($COMPUTEROUTER_SOCKET):

  GET  /health                  {"status": "ok"}
  POST /exec                    {"command", "cwd", "env", "timeout"}
                                -> {"exit_code", "stdout", "stderr"}
  POST /spawn                   {"command", "cwd", "env", "log"} -> {"pid"}: a long-running process
  POST /files                   {"path", "content_b64", "mode"}: write one file
  POST /files/read              {"path"} -> {"content_b64"} (404: no such file)
  ANY  /proxy/<port>/<path>     relayed to 127.0.0.1:<port> inside the sandbox (preview links)

AGENT_EGRESS="host:port=route,..." makes it listen on each allowlisted host:port of the
sandbox's own loopback and relay to the session's egress socket for ``route``: the only ways out.
"""

import base64
import contextlib
import http.client
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler

SOCKET = os.environ["COMPUTEROUTER_SOCKET"]
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length"}
_CHILD_ENV_DROP = ("COMPUTEROUTER_SOCKET", "AGENT_EGRESS")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CHILD_ENV_DROP}
    env.update(extra)
    return env


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def address_string(self) -> str:
        return "agent"

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _route(self) -> None:
        if self.path.startswith("/proxy/"):
            self._proxy()
            return
        if self.command == "GET" and self.path == "/health":
            self._send(200, {"status": "ok", "pid": os.getpid()})
            return
        if self.command != "POST":
            self._send(404, {"error": f"no {self.command} {self.path}"})
            return
        request = json.loads(self._body() or b"{}")
        if self.path == "/exec":
            self._exec(request)
        elif self.path == "/spawn":
            self._spawn(request)
        elif self.path == "/files":
            path = request["path"]
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(base64.b64decode(request.get("content_b64", "")))
            os.chmod(path, int(request.get("mode", 0o644)))
            self._send(200, {"path": path})
        elif self.path == "/files/read":
            try:
                with open(request["path"], "rb") as fh:
                    content = fh.read()
            except OSError as exc:
                self._send(404, {"error": f"{request['path']}: {exc.strerror}"})
                return
            self._send(200, {"content_b64": base64.b64encode(content).decode()})
        else:
            self._send(404, {"error": f"no POST {self.path}"})

    def _exec(self, request: dict) -> None:  # type: ignore[type-arg]
        try:
            done = subprocess.run(
                ["/bin/sh", "-c", request["command"]],
                cwd=request.get("cwd") or None,
                env=_env(request.get("env") or {}),
                capture_output=True,
                timeout=request.get("timeout") or None,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"").decode(errors="replace")
            self._send(200, {"exit_code": -1, "stdout": out, "stderr": "timed out"})
            return
        except OSError as exc:
            self._send(200, {"exit_code": 127, "stdout": "", "stderr": str(exc)})
            return
        self._send(
            200,
            {
                "exit_code": done.returncode,
                "stdout": done.stdout.decode(errors="replace"),
                "stderr": done.stderr.decode(errors="replace"),
            },
        )

    def _spawn(self, request: dict) -> None:  # type: ignore[type-arg]
        log = request.get("log") or os.devnull
        os.makedirs(os.path.dirname(log) or ".", exist_ok=True)
        with open(log, "ab") as out:
            child = subprocess.Popen(
                ["/bin/sh", "-c", request["command"]],
                cwd=request.get("cwd") or None,
                env=_env(request.get("env") or {}),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._send(200, {"pid": child.pid})

    def _proxy(self) -> None:
        _, _, rest = self.path.partition("/proxy/")
        port, _, tail = rest.partition("/")
        body = self._body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        upstream = http.client.HTTPConnection("127.0.0.1", int(port), timeout=600)
        try:
            upstream.request(self.command, "/" + tail, body=body or None, headers=headers)
            response = upstream.getresponse()
        except OSError as exc:
            self._send(502, {"error": f"nothing answers on port {port}: {exc}"})
            return
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in _HOP:
                self.send_header(key, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            chunk = response.read1(65536)
            if not chunk:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _route


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def _relay(listener: socket.socket, target: str) -> None:
    while True:
        conn, _ = listener.accept()
        out = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            out.connect(target)
        except OSError:
            conn.close()
            continue
        threading.Thread(target=_pump, args=(conn, out), daemon=True).start()
        threading.Thread(target=_pump, args=(out, conn), daemon=True).start()


def _start_egress() -> None:
    sockets = os.path.dirname(SOCKET)
    for spec in filter(None, os.environ.get("AGENT_EGRESS", "").split(",")):
        address, _, route = spec.rpartition("=")
        host, _, port = address.rpartition(":")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, int(port)))
        listener.listen(64)
        target = os.path.join(sockets, f"egress-{route}.sock")
        threading.Thread(target=_relay, args=(listener, target), daemon=True).start()


def main() -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(SOCKET)
    _start_egress()
    server = Server(SOCKET, Handler)
    os.chmod(SOCKET, 0o600)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
