"""Where a provider reaches sessions over TCP (remote providers), the runtimes listen on
COMPUTEROUTER_PORT, and the bridge sends each egress route to the address the provider names
in COMPUTEROUTER_EGRESS_<ROUTE> instead of a host-side unix socket."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import computerouter.runtimes as runtimes_package
import computerouter.runtimes.echo as echo_package
from computerouter.domain.values import LaunchSpec, MountSpec, RuntimeImage
from computerouter.runtimes.hermes.image import MOUNT_POINT, HermesImage

BRIDGE = Path(runtimes_package.__file__).parent / "bridge.py"
ECHO = Path(echo_package.__file__).parent / "server.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_answering(url: str) -> httpx.Response:
    deadline = time.monotonic() + 15
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def upstream() -> Iterator[int]:
    """A plain HTTP server standing for a route's upstream (the model endpoint)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"upstream saw {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def run(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    return out


def test_echo_listens_on_the_port_the_provider_names(tmp_path: Path) -> None:
    port = free_port()
    proc = run(
        [sys.executable, str(ECHO)],
        {"COMPUTEROUTER_PORT": str(port), "COMPUTEROUTER_WORKSPACE": str(tmp_path)},
    )
    try:
        health = wait_answering(f"http://127.0.0.1:{port}/health")
        assert health.json()["runtime"] == "echo"
    finally:
        output = stop(proc)
    assert f"listening on tcp port {port}" in output


def test_bridge_ingress_on_a_port_and_egress_to_the_named_address(
    tmp_path: Path, upstream: int
) -> None:
    listen, target, egress = free_port(), free_port(), free_port()
    (tmp_path / "marker.txt").write_text("served by the child")
    child = [
        sys.executable,
        "-m",
        "http.server",
        str(target),
        "-b",
        "127.0.0.1",
        "-d",
        str(tmp_path),
    ]
    proc = run(
        [sys.executable, str(BRIDGE), "--", *child],
        {
            # The bridge's own port; the child (echo) listens on the target port.
            "COMPUTEROUTER_PORT": str(listen),
            "BRIDGE_TARGET_PORT": str(target),
            "BRIDGE_EGRESS": f"{egress}=model",
            "COMPUTEROUTER_EGRESS_MODEL": f"127.0.0.1:{upstream}",
            "COMPUTEROUTER_WORKSPACE": str(tmp_path),
        },
    )
    try:
        deadline = time.monotonic() + 15
        through = wait_answering(f"http://127.0.0.1:{listen}/marker.txt")
        while through.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)  # the bridge answers before its child does
            through = wait_answering(f"http://127.0.0.1:{listen}/marker.txt")
        assert through.text == "served by the child"
        out = wait_answering(f"http://127.0.0.1:{egress}/v1/models")
        assert out.text == "upstream saw /v1/models"
    finally:
        stop(proc)


def test_hermes_image_is_placed_by_the_provider(tmp_path: Path) -> None:
    image = HermesImage(images_dir=tmp_path).runtime_image()
    assert image.ref == f"computerouter-hermes-{HermesImage(images_dir=tmp_path).version}"
    assert image.target == MOUNT_POINT
    assert "hermes-agent==" in image.install[-1]
    assert image.host_path == ""  # not built here: nothing for a local mount yet
    built = RuntimeImage(name="x", version="1", target="/opt/x", install=("true",), host_path="/b")
    spec = LaunchSpec(runtime="x", argv=("true",), image=built)
    assert spec.all_mounts == (MountSpec(source="/b", target="/opt/x"),)
    assert LaunchSpec(runtime="x", argv=("true",)).all_mounts == ()
