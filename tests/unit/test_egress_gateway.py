"""The egress gateway on its own (a host process, a test server on loopback behind it): an
HTTP forward proxy that lets through only what its allowlist names, checks the address it
resolved (refused ranges need the operator's own address rule) and logs every refusal with
the run its turn was pushed for."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from computerouter.domain.egress import EgressTurn
from computerouter.domain.gateway import AllowRule, parse_allowlist
from computerouter.errors import InputError
from computerouter.providers.egress import relay_source
from computerouter.providers.egress.control import control_name, meter, push_turn


@pytest.fixture
def target() -> Iterator[int]:
    """A destination on host loopback that says who it is."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"allowed-target {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class Gateway:
    def __init__(self, sock: Path, control: str, log: Path) -> None:
        self.sock, self.control, self.log = sock, control, log

    def ask(self, request: bytes) -> bytes:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(self.sock))
            s.sendall(request)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data

    def get(self, url: str) -> bytes:
        return self.ask(
            f"GET {url} HTTP/1.1\r\nHost: x\r\nProxy-Connection: close\r\n\r\n".encode()
        )

    def tunnel(self, hostport: str, inner: bytes) -> bytes:
        return self.ask(f"CONNECT {hostport} HTTP/1.1\r\nHost: {hostport}\r\n\r\n".encode() + inner)

    def refusals(self) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def start(tmp_path: Path, rules: tuple[AllowRule, ...]) -> Iterator[Gateway]:
    sock = tmp_path / "egress-gateway.sock"
    name = control_name(sock)
    log = tmp_path / "gateway.log"
    config = {
        "upstream": "",
        "gateway": True,
        "allow": [r.as_json() for r in rules],
        "labels": {"session": "ses_test", "instance": "inst"},
        "control": name,
        "controllers": [os.geteuid()],
    }
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", relay_source().decode(), str(sock)],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(config).encode())
    proc.stdin.close()
    deadline = time.monotonic() + 10
    while not sock.exists():
        assert time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.01)
    try:
        yield Gateway(sock, name, log)
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def closed(tmp_path: Path) -> Iterator[Gateway]:
    """The default: no rule, every destination refused."""
    yield from start(tmp_path, ())


def test_the_default_gateway_refuses_everything_and_logs_it(closed: Gateway, target: int) -> None:
    push_turn(
        closed.control,
        EgressTurn(upstream="", labels=(("agent", "agt_1"), ("run", "run_1"), ("sandbox", "s"))),
        provider="local",
    )
    answer = closed.get(f"http://127.0.0.1:{target}/x")
    assert answer.startswith(b"HTTP/1.1 403")
    assert b"allowed-target" not in answer
    assert closed.tunnel("example.com:443", b"").startswith(b"HTTP/1.1 403")
    lines = closed.refusals()
    assert [line["destination"] for line in lines] == [f"127.0.0.1:{target}", "example.com:443"]
    assert all(line["run"] == "run_1" and line["agent"] == "agt_1" for line in lines)
    assert lines[0]["session"] == "ses_test"
    assert lines[0]["event"] == "egress.refused"
    assert meter(closed.control, "run_1", end=True, provider="local").refused == 2


def test_an_operator_address_rule_lets_one_destination_through(tmp_path: Path, target: int) -> None:
    rules = parse_allowlist(f"127.0.0.1:{target}, *:443", operator=True)
    for gateway in start(tmp_path, rules):
        plain = gateway.get(f"http://127.0.0.1:{target}/plain?q=1")
        assert plain.startswith(b"HTTP/1.0 200")
        assert plain.endswith(b"allowed-target /plain?q=1")
        inner = b"GET /tunnelled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        tunnelled = gateway.tunnel(f"127.0.0.1:{target}", inner)
        assert tunnelled.startswith(b"HTTP/1.1 200 Connection Established")
        assert tunnelled.endswith(b"allowed-target /tunnelled")
        # Another loopback port, the metadata address, a private address: refused before any
        # connection is tried, though "*:443" names any host on 443.
        for where in ("127.0.0.1:5432", "169.254.169.254:443", "10.1.2.3:443", "[::1]:443"):
            assert gateway.tunnel(where, b"").startswith(b"HTTP/1.1 403"), where
        reasons = {line["destination"]: line["reason"] for line in gateway.refusals()}
        assert "metadata" in str(reasons["169.254.169.254:443"])
        assert "private" in str(reasons["10.1.2.3:443"])
        assert "loopback" in str(reasons["[::1]:443"])
        assert "loopback" in str(reasons["127.0.0.1:5432"])


def test_a_name_never_unlocks_a_refused_address(tmp_path: Path, target: int) -> None:
    """``localhost`` resolves to loopback: an allowed name does not make it reachable."""
    rules = parse_allowlist(f"localhost:{target}", operator=False) + parse_allowlist(
        f"localhost:{target}", operator=True
    )
    for gateway in start(tmp_path, rules):
        assert gateway.get(f"http://localhost:{target}/").startswith(b"HTTP/1.1 403")
        assert "loopback" in str(gateway.refusals()[0]["reason"])


def test_a_pushed_allowlist_replaces_the_old_one(closed: Gateway, target: int) -> None:
    rules = parse_allowlist(f"127.0.0.0/8:{target}", operator=True)
    push_turn(closed.control, EgressTurn(upstream="", allow=rules), provider="local")
    assert closed.get(f"http://127.0.0.1:{target}/").startswith(b"HTTP/1.0 200")
    push_turn(closed.control, EgressTurn(upstream="", allow=()), provider="local")
    assert closed.get(f"http://127.0.0.1:{target}/").startswith(b"HTTP/1.1 403")


def test_a_user_network_rule_does_not_unlock_private_ranges(tmp_path: Path, target: int) -> None:
    for gateway in start(tmp_path, parse_allowlist("127.0.0.0/8:*", operator=False)):
        assert gateway.get(f"http://127.0.0.1:{target}/").startswith(b"HTTP/1.1 403")


def test_requests_that_are_not_proxy_requests_are_refused(closed: Gateway) -> None:
    assert closed.ask(b"GET /relative HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert closed.get("https://example.com/").startswith(b"HTTP/1.1 400")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("example.com", "must be HOST:PORT"),
        ("example.com:http", "the port must be"),
        ("example.com:0", "ports run 1-65535"),
        ("ok.example:80,bad_host!:80", "is not a host name"),
        ("[::1:443", "[brackets]"),
    ],
)
def test_bad_rules_are_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[")):
        parse_allowlist(text, operator=True)


def test_rules_read_back_as_written() -> None:
    rules = parse_allowlist(
        "API.example.com:443 *.svc:8000-8099 10.0.0.0/8:* [::1]:80", operator=True
    )
    assert [str(r) for r in rules] == [
        "api.example.com:443",
        "*.svc:8000-8099",
        "10.0.0.0/8:*",
        "::1/128:80",
    ]


def _gateway_module() -> Any:
    """The gateway script as a module, to ask it about addresses without connecting."""
    module = types.ModuleType("gateway_script")
    exec(compile(relay_source(), "relay.py", "exec"), module.__dict__)
    return module


def _resolving(module: Any, answers: dict[str, str]) -> Any:
    gateway = module.Gateway({"allow": []})

    async def getaddrinfo(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    async def ask(host: str, port: int) -> str:
        asyncio.get_running_loop().getaddrinfo = getaddrinfo  # type: ignore[method-assign]
        try:
            return str(await gateway.permitted(host, port))
        except module.Refused as refused:
            return f"refused: {refused.message}"

    gateway.ask = lambda host, port: asyncio.run(ask(host, port))
    return gateway


def test_an_agents_rules_hold_while_its_run_is_in_flight() -> None:
    """A run's own (user) rules open public names for that run only; a name that resolves to
    a refused range stays shut (DNS rebinding gains nothing). No connection is made here."""
    module = _gateway_module()
    gateway = _resolving(
        module, {"api.example.com": "93.184.216.34", "rebind.example.com": "127.0.0.1"}
    )
    user = parse_allowlist("api.example.com:443 rebind.example.com:443", operator=False)
    assert gateway.ask("api.example.com", 443).startswith("refused")
    gateway.command(
        {
            "op": "turn",
            "allow": [r.as_json() for r in user],
            "labels": {"run": "run_a", "agent": "agt_a"},
            "active": ["run_a"],
        }
    )
    assert gateway.ask("api.example.com", 443) == "93.184.216.34"
    assert "loopback" in gateway.ask("rebind.example.com", 443)
    assert "allowlist" in gateway.ask("api.example.com", 80)
    gateway.command({"op": "end", "run_id": "run_a"})
    assert "allowlist" in gateway.ask("api.example.com", 443)
