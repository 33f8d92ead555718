"""What the egress gateway adds to a call, side by side in one run with the plain relay.

Both paths start at a TCP port standing in for the session bridge's loopback port (a TCP →
unix hop, as inside a session) and end at the model stand-in (its own process):

- **relay**: ``POST http://bridge/v1/chat/completions`` to the model route's relay (the
  path Hermes's model calls take);
- **gateway**: the same call as an absolute-URI request through the gateway route, the
  forward proxy behind a session's ``HTTP_PROXY``, with the operator's rule allowing the
  stand-in's address (so the gateway checks the allowlist and the refused ranges, then
  connects to the address it checked).

Calls alternate so both see the same machine noise. Goal (printed, never asserted): the
gateway adds ≤ 1 ms at p50.

    .venv/bin/python bench/gateway.py [--calls 300] [--json bench/results/gateway.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from _relay import tcp_unix_relay
from _shared import free_port, p50, running, timed_model_call, wait_up, write_report
from computerouter.domain.gateway import parse_allowlist
from computerouter.providers.egress import relay_source

console = Console()
GOAL_MS = 1.0


@contextmanager
def route(workdir: Path, name: str, config: dict[str, object]) -> Iterator[Path]:
    """A relay process on ``workdir/egress-NAME.sock`` with ``config`` (as a session's)."""
    sock = workdir / f"egress-{name}.sock"
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", relay_source().decode(), str(sock)],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    assert process.stdin is not None
    process.stdin.write(json.dumps({**config, "controllers": [os.geteuid()]}).encode())
    process.stdin.close()
    deadline = time.monotonic() + 10
    try:
        while not sock.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the {name} route did not start: {log.read_text()[-2000:]}")
            time.sleep(0.01)
        yield sock
    finally:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--json", type=Path, default=Path("bench/results/gateway.json"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cr-bench-gateway-"))
    port = free_port()
    model = f"http://127.0.0.1:{port}"
    rules = parse_allowlist(f"127.0.0.1:{port}", operator=True)
    with ExitStack() as stack:
        standin = stack.enter_context(
            running(
                [sys.executable, "-m", "computerouter.standin", "--port", str(port)],
                env=dict(os.environ),
                log=workdir / "standin.log",
            )
        )
        wait_up(f"{model}/v1/models", standin, workdir / "standin.log", timeout_s=30)
        relay_sock = stack.enter_context(
            route(workdir, "model", {"upstream": f"{model}/v1", "prefix": "/v1"})
        )
        gateway_sock = stack.enter_context(
            route(
                workdir,
                "gateway",
                {"upstream": "", "gateway": True, "allow": [r.as_json() for r in rules]},
            )
        )
        relay_url = stack.enter_context(tcp_unix_relay(str(relay_sock), workdir))
        proxy_url = stack.enter_context(tcp_unix_relay(str(gateway_sock), workdir))
        plain = stack.enter_context(httpx.Client(timeout=30))
        proxied = stack.enter_context(httpx.Client(timeout=30, proxy=proxy_url))
        times: dict[str, list[float]] = {"relay": [], "gateway": []}
        for _ in range(3):  # warm both paths
            timed_model_call(plain, f"{relay_url}/v1/chat/completions")
            timed_model_call(proxied, f"{model}/v1/chat/completions")
        for _ in range(args.calls):
            times["relay"].append(timed_model_call(plain, f"{relay_url}/v1/chat/completions"))
            times["gateway"].append(timed_model_call(proxied, f"{model}/v1/chat/completions"))
    relay_p50, gateway_p50 = p50(times["relay"]), p50(times["gateway"])
    added = gateway_p50 - relay_p50
    ratio = gateway_p50 / relay_p50
    met = added <= GOAL_MS
    table = Table(title="a model call: gateway against the plain relay", title_justify="left")
    for column in ("path", "p50 ms", "n"):
        table.add_column(column, justify="left" if column == "path" else "right")
    table.add_row("relay (model route)", f"{relay_p50:.3f}", str(len(times["relay"])))
    table.add_row("gateway (forward proxy)", f"{gateway_p50:.3f}", str(len(times["gateway"])))
    console.print(table)
    shown = "met" if met else "not met"
    console.print(
        f"gateway / relay p50 {ratio:.3f}; added {added:+.3f} ms at p50 "
        f"(goal ≤ {GOAL_MS:g} ms: {shown})"
    )
    write_report(
        args.json,
        {
            "calls": args.calls,
            "ms": times,
            "relay_p50_ms": relay_p50,
            "gateway_p50_ms": gateway_p50,
            "ratio_p50": ratio,
            "added_ms_p50": added,
            "goal_added_ms": GOAL_MS,
            "met": met,
        },
    )


if __name__ == "__main__":
    main()
