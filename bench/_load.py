"""Closed-loop load: ``concurrency`` threads, each with its own keep-alive client, make
``requests`` calls between them as fast as answers come back. Every path is driven by the same
client code, so the client's own cost is the same on each and cancels out of ratios."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from _shared import free_port, p50, running, wait_up
from computerouter.api.server import UVICORN_HTTP, UVICORN_LOOP

Call = Callable[[httpx.Client], None]


@dataclass(frozen=True, kw_only=True)
class Load:
    concurrency: int
    latencies_s: tuple[float, ...]
    wall_s: float

    @property
    def rps(self) -> float:
        return len(self.latencies_s) / self.wall_s

    @property
    def p50_s(self) -> float:
        return p50(self.latencies_s)

    @classmethod
    def combined(cls, parts: list[Load]) -> Load:
        """Loads run one after another, as one: their calls, over their summed time."""
        return cls(
            concurrency=parts[0].concurrency,
            latencies_s=tuple(t for part in parts for t in part.latencies_s),
            wall_s=sum(part.wall_s for part in parts),
        )

    def report(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "requests": len(self.latencies_s),
            "wall_s": self.wall_s,
            "rps": self.rps,
            "p50_s": self.p50_s,
            "latencies_s": list(self.latencies_s),
        }


def run_load(
    call: Call, client: Callable[[], httpx.Client], *, concurrency: int, requests: int
) -> Load:
    """``requests`` calls of ``call`` (at least one per thread); the first failure is raised."""
    shares = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
    shares = [max(1, s) for s in shares]
    latencies: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(concurrency + 1)

    def work(share: int) -> None:
        with client() as c:
            mine: list[float] = []
            barrier.wait()
            try:
                for _ in range(share):
                    started = time.perf_counter()
                    call(c)
                    mine.append(time.perf_counter() - started)
            except Exception as exc:
                failures.append(exc)
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=work, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise failures[0]
    return Load(concurrency=concurrency, latencies_s=tuple(latencies), wall_s=wall)


def chat(model: str, *, stream: bool, headers: dict[str, str] | None = None) -> Call:
    """One chat turn on ``/v1/chat/completions``, read to its end (the last chunk if stream)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "hello there"}],
        "stream": stream,
    }

    def call(client: httpx.Client) -> None:
        if not stream:
            response = client.post("/v1/chat/completions", json=body, headers=headers)
            response.raise_for_status()
            assert response.json()["choices"][0]["message"]["content"]
            return
        with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
            r.raise_for_status()
            last = ""
            for line in r.iter_lines():
                if line.startswith("data:"):
                    last = line
            assert last == "data: [DONE]", last

    return call


def get(path: str) -> Call:
    def call(client: httpx.Client) -> None:
        client.get(path).raise_for_status()

    return call


def post(path: str, body: dict[str, Any]) -> Call:
    payload = json.dumps(body)

    def call(client: httpx.Client) -> None:
        response = client.post(path, content=payload, headers={"Content-Type": "application/json"})
        response.raise_for_status()

    return call


# An empty ASGI app on uvicorn, as the router is served (the same event loop and HTTP parser):
# what this client reaches against it is the ceiling of the harness itself on this machine, so
# a row far below it is the server's.
_BARE_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from computerouter.api.server import UVICORN_HTTP, UVICORN_LOOP
async def empty(request):
    return PlainTextResponse("")
app = Starlette(routes=[Route("/", empty)])
uvicorn.run(
    app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
    loop=UVICORN_LOOP, http=UVICORN_HTTP,
)
"""


@contextmanager
def bare_server(workdir: Path) -> Iterator[str]:
    """The base URL of an empty ASGI app on uvicorn (``GET /``), while the block runs."""
    port = free_port()
    log = workdir / "bare.log"
    with running([sys.executable, "-c", _BARE_APP, str(port)], env=dict(os.environ), log=log) as p:
        url = f"http://127.0.0.1:{port}"
        wait_up(url, p, log, timeout_s=30)
        yield url


def server_implementations() -> tuple[str, str]:
    """The event loop and HTTP parser uvicorn picks for ``serve`` (and the empty app) here."""
    loop, http = UVICORN_LOOP, UVICORN_HTTP
    if loop == "auto":  # uvicorn's own choice: uvloop if it imports, else asyncio
        loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    if http == "auto":  # httptools if it imports, else h11
        http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, http
