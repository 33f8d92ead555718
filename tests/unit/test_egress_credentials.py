"""A per-run egress route on its own (a host process, an upstream that echoes what it got):
the bearer of the latest run in flight goes out, a run's goes when it ends, and the session's
own ``Authorization`` never does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from computerouter.domain.egress import EgressTurn
from computerouter.providers.egress import relay_source
from computerouter.providers.egress.control import control_name, meter, push_turn


@pytest.fixture
def upstream() -> Iterator[str]:
    class Echo(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"authorization": self.headers.get("Authorization")}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mcp"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def route(tmp_path: Path, upstream: str) -> Iterator[tuple[Path, str]]:
    sock = tmp_path / "egress-mcp.sock"
    name = control_name(sock)
    config = {
        "upstream": upstream,
        "prefix": "/mcp",
        "per_run": True,
        "control": name,
        "controllers": [os.geteuid()],
    }
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", relay_source().decode(), str(sock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(config).encode())
    proc.stdin.close()
    deadline = time.monotonic() + 10
    while not sock.exists():
        assert time.monotonic() < deadline, "the relay did not start"
        time.sleep(0.01)
    try:
        yield sock, name
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def sent(sock: Path) -> str | None:
    """The Authorization the upstream saw for a request the session sent with its own."""
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=10) as client:
        response = client.post(
            "http://relay/mcp", json={}, headers={"Authorization": "Bearer from-the-session"}
        )
    assert response.status_code == 200, response.text
    seen = response.json()["authorization"]
    assert seen is None or isinstance(seen, str)
    return seen


def turn(name: str, upstream: str, run_id: str, token: str) -> None:
    push_turn(
        name,
        EgressTurn(
            upstream=upstream,
            headers=(("Authorization", f"Bearer {token}"),),
            labels=(("run", run_id),),
        ),
        provider="local",
    )


def test_each_run_in_flight_gets_its_own_bearer_and_loses_it_at_its_end(
    route: tuple[Path, str], upstream: str
) -> None:
    sock, name = route
    assert sent(sock) is None  # no run in flight: nothing, not even the session's own
    turn(name, upstream, "run_a", "token-a")
    assert sent(sock) == "Bearer token-a"
    turn(name, upstream, "run_b", "token-b")
    assert sent(sock) == "Bearer token-b"
    meter(name, "run_b", end=True, provider="local")
    assert sent(sock) == "Bearer token-a"  # run_a is still in flight
    meter(name, "run_a", end=True, provider="local")
    assert sent(sock) is None


def test_a_turn_forgets_runs_no_longer_in_flight(route: tuple[Path, str], upstream: str) -> None:
    sock, name = route
    turn(name, upstream, "run_dead", "token-dead")
    push_turn(
        name,
        EgressTurn(
            upstream=upstream,
            headers=(("Authorization", "Bearer token-live"),),
            labels=(("run", "run_live"),),
            active=("run_live",),
        ),
        provider="local",
    )
    meter(name, "run_live", end=True, provider="local")
    assert sent(sock) is None  # the dead run's bearer did not come back
