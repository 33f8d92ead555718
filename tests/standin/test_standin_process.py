"""``python -m computerouter.standin`` as its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
from standin_sse import KEY, user


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "computerouter.standin", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=10)


def test_prints_its_url_serves_and_stops_cleanly_on_sigterm() -> None:
    started = time.monotonic()
    proc, base_url = start("--api-key", KEY)
    try:
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/v1")
        headers = {"Authorization": f"Bearer {KEY}"}
        reply = httpx.post(
            f"{base_url}/chat/completions", json={"messages": user("hi")}, headers=headers
        )
        # Generous bound for slow CI; it is ~0.1 s on a laptop.
        assert time.monotonic() - started < 5
        assert reply.status_code == 200
        assert (
            httpx.post(f"{base_url}/chat/completions", json={"messages": user("hi")}).status_code
            == 401
        )
    finally:
        assert stop(proc) == 0


def test_key_can_come_from_the_environment() -> None:
    proc, base_url = start(env={"COMPUTEROUTER_STANDIN_API_KEY": KEY})
    try:
        assert httpx.get(f"{base_url}/models").status_code == 401
        headers = {"Authorization": f"Bearer {KEY}"}
        assert httpx.get(f"{base_url}/models", headers=headers).status_code == 200
    finally:
        assert stop(proc) == 0
