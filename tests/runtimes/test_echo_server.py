"""The echo runtime's server: a client that hangs up before its answer leaves no traceback in
the session's output (the output is what `compute sessions logs` shows an operator)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import computerouter.runtimes.echo as echo_package

SERVER = Path(echo_package.__file__).parent / "server.py"


def test_a_client_that_hangs_up_leaves_the_output_clean(tmp_path: Path) -> None:
    sock = tmp_path / "echo.sock"
    env = {**os.environ, "COMPUTEROUTER_SOCKET": str(sock)}
    env["COMPUTEROUTER_WORKSPACE"] = str(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, str(SERVER)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        message = {"role": "user", "content": "x" * 1000}
        body = json.dumps({"stream": True, "messages": [message]}).encode()
        request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: s\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        for _ in range(20):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect(str(sock))
            client.sendall(request)
            client.close()  # gone before the answer: the server's writes meet a closed peer
        # a normal request still works afterwards
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(sock))
        client.sendall(b"GET /health HTTP/1.1\r\nHost: s\r\n\r\n")
        assert client.recv(4096).startswith(b"HTTP/1.1 200")
        client.close()
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert "echo runtime listening" in output
    assert "Traceback" not in output, output
