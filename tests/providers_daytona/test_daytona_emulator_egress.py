"""A sandbox reaches only the destinations its network allow list admits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from daytona import CreateSandboxFromSnapshotParams, Daytona, DaytonaConfig

from computerouter.emulators.daytona import EmulatorServer

pytestmark = pytest.mark.isolation


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"outside"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def outside() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _fetch(port: int) -> str:
    return (
        'python3 -c "import urllib.request as u; '
        f"print(u.urlopen('http://127.0.0.1:{port}/', timeout=3).read().decode())\""
    )


def test_only_allowlisted_destinations_are_reachable(
    emulator: EmulatorServer, outside: int
) -> None:
    daytona = Daytona(DaytonaConfig(api_url=emulator.api_url, api_key="emulator-key"))
    allowed = daytona.create(
        CreateSandboxFromSnapshotParams(
            env_vars={"COMPUTEROUTER_EGRESS_MODEL": f"127.0.0.1:{outside}"},
            network_allow_list="127.0.0.1/32",
        ),
        timeout=30,
    )
    refused = daytona.create(
        CreateSandboxFromSnapshotParams(
            env_vars={"COMPUTEROUTER_EGRESS_MODEL": f"127.0.0.1:{outside}"},
            network_allow_list="10.0.0.0/8",
        ),
        timeout=30,
    )

    reached = allowed.process.exec(_fetch(outside))
    assert reached.exit_code == 0, reached.result
    assert reached.result.strip() == "outside"
    assert refused.process.exec(_fetch(outside)).exit_code != 0
    other_port = outside + 1 if outside < 65535 else outside - 1
    assert allowed.process.exec(_fetch(other_port)).exit_code != 0
    daytona.delete(allowed)
    daytona.delete(refused)
