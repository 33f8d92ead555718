"""The in-sprite agent of the Sprites emulator. Standard library only; runs inside a backing
``local`` session as its unprivileged user, on the unix socket COMPUTEROUTER_SOCKET, and serves
what the emulator forwards into the sprite:

  GET    /health                      {"status": "ok"}
  PUT    /services/<name>             start (or restart) a long-running process; JSON body
                                      {"cmd", "args", "env", "dir", "http_port"}
  DELETE /services/<name>             stop it
  GET    /services                    {"<name>": {"pid", "running", "exit_code", "http_port"}}
  PUT    /files?path=P&mode=M         write the body to P (relative to the workspace)
  POST   /policy                      {"allow": [route, ...]}: open those egress routes (a
                                      listener at the route's host:port in the sprite's
                                      loopback, relayed to egress-<route>.sock)
  POST   /services/restart            start again every service not running (a cold wake)
  POST   /services/stop-all           stop every service (a restore)
  POST   /cold                        stop every service and end every other process
  POST   /checkpoints/<id>            copy the sprite's filesystem (the workspace) aside
  POST   /checkpoints/<id>/restore    put that copy back in place
  ANY    /proxy/<port>/<path>         relay to 127.0.0.1:<port> inside the sprite
"""

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Any

SOCKET = os.environ["COMPUTEROUTER_SOCKET"]
WORKSPACE = os.environ.get("COMPUTEROUTER_WORKSPACE", ".")
CHECKPOINTS = os.path.join(WORKSPACE, ".sprite-checkpoints")
LOGS = os.path.join(WORKSPACE, ".sprite-services")
HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length"}

UPSTREAMS = dict(
    item.split("=", 1) for item in os.environ.get("SPRITE_UPSTREAMS", "").split(";") if item
)
"""Route name -> host:port it is called at inside the sprite (the network policy allows it)."""

_lock = threading.Lock()
_services: dict[str, dict[str, Any]] = {}
_listening: set[str] = set()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


def _relay(client: socket.socket, route: str) -> None:
    upstream = socket.socket(socket.AF_UNIX)
    try:
        upstream.connect(os.path.join(os.path.dirname(SOCKET), f"egress-{route}.sock"))
    except OSError:
        client.close()
        return
    back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
    back.start()
    _pipe(client, upstream)
    back.join()
    client.close()
    upstream.close()


def _listen(route: str) -> None:
    """Accept on the route's host:port in the sprite's loopback; relay to its egress socket."""
    host, port = UPSTREAMS[route].rsplit(":", 1)
    server = socket.create_server((host, int(port)))

    def serve() -> None:
        while True:
            client, _ = server.accept()
            threading.Thread(target=_relay, args=(client, route), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    _listening.add(route)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _start(name: str, spec: dict[str, Any]) -> None:
    _stop(name)
    env = dict(os.environ)
    env.pop("COMPUTEROUTER_SOCKET", None)
    env.update(spec.get("env") or {})
    os.makedirs(LOGS, exist_ok=True)
    with open(os.path.join(LOGS, name + ".log"), "ab") as log:
        proc = subprocess.Popen(
            [spec["cmd"], *(spec.get("args") or [])],
            cwd=spec.get("dir") or WORKSPACE,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _services[name] = {"spec": spec, "proc": proc}


def _stop(name: str) -> None:
    entry = _services.get(name)
    if entry is None:
        return
    proc = entry["proc"]
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _copy_tree(source: str, target: str) -> None:
    if os.path.exists(target):
        shutil.rmtree(target)
    shutil.copytree(
        source, target, symlinks=True, ignore=shutil.ignore_patterns(".sprite-checkpoints")
    )


def _clear_workspace() -> None:
    for entry in os.listdir(WORKSPACE):
        if entry == ".sprite-checkpoints":
            continue
        path = os.path.join(WORKSPACE, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def address_string(self) -> str:
        return "emulator"

    def _send(self, status: int, body: object, headers: tuple[tuple[str, str], ...] = ()) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        if not any(k.lower() == "content-type" for k, _ in headers):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _route(self) -> None:
        path = self.path.split("?", 1)[0]
        parts = [p for p in path.split("/") if p]
        if parts and parts[0] == "proxy":
            return self._proxy(parts)
        body = self._body()
        with _lock:
            return self._control(parts, body)

    def _control(self, parts: list[str], body: bytes) -> None:
        method = self.command
        if parts == ["health"]:
            return self._send(200, {"status": "ok", "pid": os.getpid()})
        if parts == ["files"] and method == "PUT":
            query = dict(q.split("=", 1) for q in self.path.split("?", 1)[1].split("&"))
            # Sprite paths are the sandbox's own; a relative one is under the sprite's home.
            target = os.path.join(WORKSPACE, urllib.parse.unquote(query["path"]))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(body)
            os.chmod(target, int(query.get("mode", "644"), 8))
            return self._send(200, {"path": target, "size": len(body)})
        if parts == ["policy"] and method == "POST":
            for route in json.loads(body).get("allow", []):
                if route in UPSTREAMS and route not in _listening:
                    _listen(route)
            return self._send(200, {"listening": sorted(_listening)})
        if parts == ["services"] and method == "GET":
            out = {}
            for name, entry in _services.items():
                code = entry["proc"].poll()
                out[name] = {
                    "pid": entry["proc"].pid,
                    "running": code is None,
                    "exit_code": code,
                    "http_port": entry["spec"].get("http_port"),
                }
            return self._send(200, out)
        if parts == ["services", "restart"] and method == "POST":
            for name, entry in list(_services.items()):
                if entry["proc"].poll() is not None:
                    _start(name, entry["spec"])
            return self._send(200, {"ok": True})
        if parts == ["services", "stop-all"] and method == "POST":
            for name in list(_services):
                _stop(name)
            return self._send(200, {"ok": True})
        if parts == ["cold"] and method == "POST":
            # A cold sprite keeps its disk only: every process but this agent ends, and only
            # Services come back with the wake.
            for name in list(_services):
                _stop(name)
            keep = {1, os.getpid(), os.getppid()}
            for pid in os.listdir("/proc"):
                if pid.isdigit() and int(pid) not in keep:
                    with contextlib.suppress(OSError):
                        os.kill(int(pid), signal.SIGKILL)
            return self._send(200, {"ok": True})
        if len(parts) == 2 and parts[0] == "services":
            if method == "PUT":
                _start(parts[1], json.loads(body))
                return self._send(200, {"pid": _services[parts[1]]["proc"].pid})
            if method == "DELETE":
                _stop(parts[1])
                _services.pop(parts[1], None)
                return self._send(200, {"ok": True})
        if len(parts) >= 2 and parts[0] == "checkpoints" and method == "POST":
            target = os.path.join(CHECKPOINTS, os.path.basename(parts[1]))
            if len(parts) == 2:
                os.makedirs(CHECKPOINTS, exist_ok=True)
                _copy_tree(WORKSPACE, target + ".partial")
                os.replace(target + ".partial", target)
                return self._send(200, {"ok": True})
            if parts[2:] == ["restore"]:
                if not os.path.isdir(target):
                    return self._send(404, {"error": "checkpoint not found"})
                _clear_workspace()
                for item in os.listdir(target):
                    source = os.path.join(target, item)
                    if os.path.isdir(source) and not os.path.islink(source):
                        shutil.copytree(source, os.path.join(WORKSPACE, item), symlinks=True)
                    else:
                        shutil.copy2(source, os.path.join(WORKSPACE, item), follow_symlinks=False)
                return self._send(200, {"ok": True})
        return self._send(404, {"error": "no such agent route"})

    def _proxy(self, parts: list[str]) -> None:
        if len(parts) < 2 or not parts[1].isdigit():
            return self._send(400, {"error": "proxy needs a port"})
        rest = self.path.split("/", 3)[3] if self.path.count("/") >= 3 else ""
        body = self._body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn = http.client.HTTPConnection("127.0.0.1", int(parts[1]), timeout=600)
        try:
            conn.request(self.command, "/" + rest, body=body or None, headers=headers)
            upstream = conn.getresponse()
        except OSError as exc:
            conn.close()
            return self._send(502, {"error": f"service not reachable: {exc}"})
        self.send_response(upstream.status)
        for key, value in upstream.getheaders():
            if key.lower() not in HOP:
                self.send_header(key, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while True:
                chunk = upstream.read1(65536)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _route


def main() -> None:
    if os.path.exists(SOCKET):
        os.unlink(SOCKET)
    server = Server(SOCKET, Handler)
    print("sprite agent listening", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
