"""``computerouter serve`` as a subprocess for tests: started on a free port (with any further
options), waited for, stopped (SIGTERM, then its stderr is returned)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

CLI = [sys.executable, "-m", "computerouter"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    stderr: list[str] = field(default_factory=list)


@contextmanager
def serve(
    env: dict[str, str],
    *options: str,
    cli_options: Sequence[str] = (),
    timeout_s: float = 60,
) -> Iterator[Served]:
    """``cli_options`` are the global ones (``--home``), given before ``serve``."""
    port = free_port()
    process = subprocess.Popen(
        [*CLI, *cli_options, "serve", "--port", str(port), *options],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(url=f"http://127.0.0.1:{port}", process=process)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                httpx.get(f"{served.url}/openapi.json")
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    raise AssertionError(process.stderr.read() if process.stderr else "") from None
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        yield served
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
        served.stderr.append(err)
