"""What the router's remote gateway adds to a remote sandbox's model call, side by side in one
run with the call straight to the endpoint.

Both paths end at the model stand-in (its own process). **direct**: ``POST
/v1/chat/completions`` to the stand-in, as a sandbox allowed to reach it would send it (it
could not then be given the key). **gateway**: the same call to the remote gateway with a turn
identity and the ``model`` route named, as the session bridge sends it: the gateway checks the
identity, stamps the key, meters the call against the run's budget and forwards it. The
gateway runs in this process, as it does in the router's. Calls alternate so both see the
same machine noise. Goal (printed, never asserted): ≤ 1 ms added at p50.

    .venv/bin/python bench/remote_gateway.py [--calls 300] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from _shared import free_port, p50, running, timed_model_call, wait_up, write_report
from computerouter.domain.egress import EgressBudget, EgressTurn
from computerouter.domain.values import EgressRoute
from computerouter.providers.egress.remote import IDENTITY_HEADER, ROUTE_HEADER, RemoteGateway

console = Console()
GOAL_MS = 1.0
KEY = "sk-bench-key"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--json", type=Path, default=Path("bench/results/remote_gateway.json"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cr-bench-remote-gateway-"))
    port = free_port()
    model = f"http://127.0.0.1:{port}/v1"
    with ExitStack() as stack:
        standin = stack.enter_context(
            running(
                [sys.executable, "-m", "computerouter.standin", "--port", str(port)],
                env=dict(os.environ),
                log=workdir / "standin.log",
            )
        )
        wait_up(f"{model}/models", standin, workdir / "standin.log", timeout_s=30)
        gateway = stack.enter_context(RemoteGateway(log_path=workdir / "gateway.log"))
        gateway.register(
            "bench", (EgressRoute(name="model", upstream=model, prefix="/v1", metered=True),)
        )
        budget = EgressBudget(
            run_id="run-bench",
            limit=10**12,
            input_per_mtok=1,
            output_per_mtok=1,
            started_at=time.time(),
        )
        gateway.configure(
            "bench",
            "model",
            EgressTurn(
                upstream=model, headers=(("Authorization", f"Bearer {KEY}"),), budget=budget
            ),
        )
        identity = gateway.issue(
            "bench",
            run_id="run-bench",
            labels=(("run", "run-bench"),),
            expires_at=time.time() + 3600,
        )
        # One request per connection on both paths, as the session bridge and the gateway do.
        plain = {"Connection": "close"}
        through = {**plain, IDENTITY_HEADER: identity, ROUTE_HEADER: "model"}
        via = f"http://{gateway.address.hostport}/v1/chat/completions"
        direct = f"{model}/chat/completions"
        client = stack.enter_context(httpx.Client(timeout=30))
        times: dict[str, list[float]] = {"direct": [], "gateway": []}
        for _ in range(3):  # warm both paths
            timed_model_call(client, direct, plain)
            timed_model_call(client, via, through)
        for _ in range(args.calls):
            times["direct"].append(timed_model_call(client, direct, plain))
            times["gateway"].append(timed_model_call(client, via, through))
        metered = gateway.meter("bench", "model", "run-bench", end=True)
    direct_p50, gateway_p50 = p50(times["direct"]), p50(times["gateway"])
    added = gateway_p50 - direct_p50
    ratio = gateway_p50 / direct_p50
    met = added <= GOAL_MS
    table = Table(
        title="a remote sandbox's model call: gateway against direct", title_justify="left"
    )
    for column in ("path", "p50 ms", "n"):
        table.add_column(column, justify="left" if column == "path" else "right")
    table.add_row("direct to the endpoint (no key)", f"{direct_p50:.3f}", str(len(times["direct"])))
    table.add_row(
        "remote gateway (identity, key, meter)", f"{gateway_p50:.3f}", str(len(times["gateway"]))
    )
    console.print(table)
    shown = "met" if met else "not met"
    console.print(
        f"gateway / direct p50 {ratio:.3f}; added {added:+.3f} ms at p50 "
        f"(goal ≤ {GOAL_MS:g} ms: {shown}); the gateway metered {metered.calls} calls"
    )
    write_report(
        args.json,
        {
            "calls": args.calls,
            "ms": times,
            "direct_p50_ms": direct_p50,
            "gateway_p50_ms": gateway_p50,
            "ratio_p50": ratio,
            "added_ms_p50": added,
            "goal_added_ms": GOAL_MS,
            "met": met,
            "metered_calls": metered.calls,
        },
    )


if __name__ == "__main__":
    main()
