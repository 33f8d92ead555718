"""What the benchmarks share: where the Hermes image cache is, percentiles, the verdict of a
goal, and how a report is written. Not a benchmark itself (the leading underscore)."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

console = Console()


def images_dir() -> str:
    """The shared cache of runtime images (building Hermes takes about a minute)."""
    return os.environ.get("COMPUTEROUTER_TEST_IMAGES", "/var/cache/computerouter-images")


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    """A duration for a table: whole ms when large, tenths when small."""
    value = seconds * 1000
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def verdict(met: bool, shown: str = "") -> str:
    """``met`` or ``not met`` (with the measured value, if shown); goals are printed, never
    asserted."""
    if met:
        return "[green]met[/]"
    return f"[red]not met ({shown})[/]" if shown else "[red]not met[/]"


def write_report(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, process: subprocess.Popen[bytes], log: Path, *, timeout_s: float) -> None:
    """Until ``url`` answers; a process that exits first, or a timeout, ends the benchmark with
    the tail of its log."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx.get(url, timeout=5)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise SystemExit(f"{url} did not come up; its log ends:\n{tail}") from None
            time.sleep(0.2)


@contextmanager
def running(
    argv: list[str], *, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process for the duration of the block, stopped (then killed) after it."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


STANDIN_CALL = {
    "model": "standin-model",
    "messages": [{"role": "user", "content": "hello"}],
    "max_tokens": 16,
}
"""One small chat completion for the model stand-in."""


def timed_model_call(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> float:
    """Milliseconds one :data:`STANDIN_CALL` to ``url`` took; a failure stops the benchmark."""
    started = time.perf_counter()
    response = client.post(url, json=STANDIN_CALL, headers=headers)
    took = (time.perf_counter() - started) * 1000
    if response.status_code != 200 or "choices" not in response.json():
        raise SystemExit(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
    return took
