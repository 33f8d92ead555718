"""``computerouter emulator daytona`` serves the API the SDK talks to, until interrupted."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daytona import Daytona, DaytonaConfig

from computerouter.providers.local import probe
from computerouter.testing.environment import child_env

pytestmark = pytest.mark.isolation


def _free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return int(probe_socket.getsockname()[1])


def _env(home: Path) -> dict[str, str]:
    env = child_env()
    env["COMPUTEROUTER_HOME"] = str(home)
    return env


def test_the_emulator_command_serves_the_sdk(tmp_path: Path) -> None:
    if probe().gaps():
        pytest.skip("the emulator backs sandboxes with local sessions")
    port = _free_port()
    argv = [sys.executable, "-m", "computerouter", "emulator", "daytona", "--port", str(port)]
    server = subprocess.Popen(
        [*argv, "--speed", "100", "--api-key", "k1"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the emulator did not listen"
                time.sleep(0.05)
        config = DaytonaConfig(api_url=f"http://127.0.0.1:{port}/api", api_key="k1")
        assert list(Daytona(config).list()) == []
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/api" in out
    assert server.returncode is not None


def test_a_bad_speed_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "computerouter", "emulator", "daytona", "--speed", "0"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0
    assert "--speed must be positive" in done.stderr
