"""The router's API against Hermes's own and against the LiteLLM proxy, side by side, in one run.

One Hermes session (local), one model stand-in, one ``computerouter serve``; the same chat turn
sent four ways, turns alternating so all see the same machine noise:

  (a) straight to Hermes's OpenAI-compatible API (``/v1/chat/completions`` on the session's
      unix socket, with Hermes's API key), and the same through a TCP → unix relay;
  (b) through the router's OpenAI-compatible endpoint (``model`` = the agent's address);
  (c) through the LiteLLM proxy (pinned, its own venv: ``scripts/litellm-venv``) fronting that
      Hermes, over the same relay, so (c) is compared with (a) via the relay.

Each path keeps its own Hermes conversation growing one turn per round (the router's is the
agent's; the others name theirs with ``X-Hermes-Session-Id``), so no path answers from a
shorter history. Then streaming turns at c=10 on (a), (b) and (c) — Hermes admits at most 10
runs at once in a session (``gateway.api_server.max_concurrent_runs``) and answers 429 beyond,
so 16 at once would measure its refusals.

Hermes (~4 turns/s here) caps every path in front of it, so those rows cannot show what the
router itself sustains. In front of a fast upstream — an echo agent (the echo test runtime, a
stdlib server that streams its input back one word per chunk) in a sandbox of its own, so a
local session of its own — streaming turns at c=16, interleaved the same way, on:

  (e) the router's OpenAI-compatible endpoint (``model`` = the echo agent's address);
  (f) the same LiteLLM proxy fronting that echo server, over a TCP → unix relay;
  (g) straight to the echo server: its unix socket, and the same through that relay.

Then the router's plain API (``GET /v1/models``, ensure of the running session) at c=1 and
c=16, beside an empty ASGI app on uvicorn driven by the same client: the ceiling of the harness
itself. Runs are unbilled, as in bench/turns.py: what is compared is the API, not the ledger
(bench/ledger.py measures that).

    .venv/bin/python bench/api.py [--rounds 30] [--stream-turns 60] [--fast-turns 1280]
                                  [--requests 400] [--workers 2]
                                  [--litellm .venv-litellm/bin/litellm] [--json PATH]

``serve`` runs ``--workers`` processes (each a replica on the store); the report names them
and the event loop and HTTP parser uvicorn runs on (the empty app runs on the same ones).

Goals (printed, never asserted): (b)/(a) ≤ 1.02 at p50; the router adds ≤ 2 ms p50 at c=1
(LiteLLM's added ms printed beside it); streaming at c=16 in front of the fast upstream, the
router sustains ≥ 10x LiteLLM's requests/s, (e)/(f) (the same ratio in front of Hermes, at
c=10, is printed for information); warm ensure over HTTP ≥ 1,000/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.progress import Progress
from rich.table import Table

from _litellm import ECHO_MODEL, MODEL, Upstream, litellm_proxy
from _load import Call, Load, bare_server, chat, get, post, run_load, server_implementations
from _relay import tcp_unix_relay
from _shared import console, free_port, images_dir, ms, running, verdict, wait_up, write_report
from computerouter.agents.factory import agent_router_for
from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.values import Endpoint, SessionKey
from computerouter.runtimes.hermes import HermesRuntime
from computerouter.secrets.api_keys import ApiKeys
from computerouter.standin import StandinModel
from computerouter.store.api_keys import ApiKeyStore

USER, SANDBOX, SLUG = "bench", "bench", "support"
ADDRESS = f"{SANDBOX}/{SLUG}"
ECHO_SANDBOX, ECHO_SLUG = "bench-echo", "echo"
ECHO_ADDRESS = f"{ECHO_SANDBOX}/{ECHO_SLUG}"
ECHO_KEY = "sk-the-echo-runtime-needs-no-key"
"""What LiteLLM sends the echo server (it requires a key; the echo server reads none)."""
NOT_MEASURED = "not measured (no LiteLLM)"


@dataclass(frozen=True, kw_only=True)
class Route:
    """One way to reach the same Hermes: a client factory and the turn request it sends."""

    name: str
    short: str
    client: Callable[[], httpx.Client]
    model: str
    headers: dict[str, str]

    def turn(self, *, stream: bool) -> Call:
        return chat(self.model, stream=stream, headers=self.headers)


@dataclass(frozen=True, kw_only=True)
class Row:
    name: str
    load: Load | None

    def report(self) -> dict[str, Any]:
        measured = self.load.report() if self.load is not None else {"note": NOT_MEASURED}
        return {"name": self.name, "measured": self.load is not None, **measured}


def unix_client(endpoint: Endpoint, headers: dict[str, str]) -> Callable[[], httpx.Client]:
    def make() -> httpx.Client:
        transport = httpx.HTTPTransport(uds=endpoint.address, verify=False)
        return httpx.Client(
            transport=transport, base_url="http://session", headers=headers, timeout=120
        )

    return make


def tcp_client(base_url: str, headers: dict[str, str]) -> Callable[[], httpx.Client]:
    def make() -> httpx.Client:
        return httpx.Client(base_url=base_url, headers=headers, timeout=120)

    return make


@contextmanager
def served(env: dict[str, str], home: Path, *, workers: int) -> Iterator[str]:
    """A ``computerouter serve --workers N`` of ``home``, by its base URL."""
    port = free_port()
    argv = [sys.executable, "-m", "computerouter", "serve", "--port", str(port)]
    argv += ["--workers", str(workers)]
    log = home / "serve.log"
    with running(argv, env=env, log=log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_up(f"{url}/openapi.json", process, log, timeout_s=60)
        yield url


def alternate(paths: list[Route], rounds: int) -> dict[str, Load]:
    """``rounds`` non-streaming turns per path at c=1, one path after another in each round,
    each round starting one path further on (no path always runs first)."""
    times: dict[str, list[float]] = {p.name: [] for p in paths}
    with ExitStack() as stack, Progress(console=console, transient=True) as progress:
        clients = {p.name: stack.enter_context(p.client()) for p in paths}
        calls = {p.name: p.turn(stream=False) for p in paths}
        for p in paths:  # warm each path's connection and conversation
            calls[p.name](clients[p.name])
        task = progress.add_task("turns at c=1", total=rounds * len(paths))
        for i in range(rounds):
            for p in paths[i % len(paths) :] + paths[: i % len(paths)]:
                started = time.perf_counter()
                calls[p.name](clients[p.name])
                times[p.name].append(time.perf_counter() - started)
                progress.advance(task)
    return {
        name: Load(concurrency=1, latencies_s=tuple(values), wall_s=sum(values))
        for name, values in times.items()
    }


def streamed(
    paths: list[Route], *, concurrency: int, turns: int, per_thread: int = 2
) -> dict[str, Load]:
    """``turns`` streamed turns per path at ``concurrency``, in bursts of ``per_thread`` per
    thread that take turns between the paths (rotated, as in :func:`alternate`), so a slow
    spell of the machine falls on every path alike."""
    burst = per_thread * concurrency
    loads: dict[str, list[Load]] = {p.name: [] for p in paths}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"streaming at c={concurrency}", total=turns * len(paths))
        for i in range(max(1, turns // burst)):
            for p in paths[i % len(paths) :] + paths[: i % len(paths)]:
                load = run_load(
                    p.turn(stream=True), p.client, concurrency=concurrency, requests=burst
                )
                loads[p.name].append(load)
                progress.advance(task, burst)
    return {name: Load.combined(parts) for name, parts in loads.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30, help="turns per path at c=1")
    parser.add_argument(
        "--stream-turns",
        type=int,
        default=60,
        help="streamed turns per path (whole bursts of 2 per thread)",
    )
    parser.add_argument("--stream-concurrency", type=int, default=10)
    parser.add_argument(
        "--fast-turns",
        type=int,
        default=1280,
        help="streamed turns per path in front of the echo agent (whole bursts of 8 per thread)",
    )
    parser.add_argument("--fast-concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=400, help="plain API calls per row")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="serve's worker processes")
    parser.add_argument("--litellm", default=None, help="the litellm executable")
    parser.add_argument("--json", type=Path, default=Path("bench/results/api.json"))
    args = parser.parse_args()
    # `make bench` passes what scripts/litellm-venv printed: empty if it could not install.
    litellm = Path(args.litellm) if args.litellm else None
    if args.litellm is not None and (litellm is None or not litellm.is_file()):
        console.print(f"[yellow]no litellm at {args.litellm!r}: LiteLLM is not measured[/]")
        litellm = None
    home = Path(tempfile.mkdtemp(prefix="cr-bench-api-"))

    with StandinModel() as model:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("COMPUTEROUTER_")},
            "COMPUTEROUTER_HOME": str(home),
            "COMPUTEROUTER_IMAGES_DIR": images_dir(),
            "COMPUTEROUTER_MODEL_BASE_URL": model.base_url,
            "COMPUTEROUTER_BILLING": "false",
            "COMPUTEROUTER_LIFECYCLE_DAEMON": "false",
            # The per-key limit would cap every row at its rate: the API is measured, not it.
            "COMPUTEROUTER_API_RATE_PER_S": "0",
            "COMPUTEROUTER_TURN_TIMEOUT_S": "60",
        }
        settings = Settings.load(env={k: v for k, v in env.items() if k.startswith("COMPUT")})
        compute = open_router(settings)
        agents = agent_router_for(compute)
        agents.create_agent(
            user_id=USER,
            address=AgentAddress.parse(ADDRESS),
            settings=ModelSettings(compute_provider="local"),
            prompt="You are a benchmark agent.",
        )
        agents.create_agent(
            user_id=USER,
            address=AgentAddress.parse(ECHO_ADDRESS),
            settings=ModelSettings(backend="echo", compute_provider="local"),
            prompt="You are a benchmark agent.",
        )
        keys = ApiKeys(ApiKeyStore(compute.store.engine), pepper=settings.api_key_pepper)
        _, secret = keys.create(USER, name="bench")
        runtime = compute.runtime("hermes")
        assert isinstance(runtime, HermesRuntime)
        with console.status("building the Hermes image if needed…"):
            runtime.image.ensure()

        rows: list[Row] = []
        try:
            with served(env, home, workers=args.workers) as url:
                auth = {"Authorization": f"Bearer {secret}"}
                ensure = post("/v1/compute/sessions", {"sandbox_id": SANDBOX})
                with console.status("starting the Hermes session…"):
                    cold = run_load(ensure, tcp_client(url, auth), concurrency=1, requests=1)
                rows.append(Row(name="router ensure, cold (new session)", load=cold))
                key = SessionKey(user_id=USER, sandbox_id=SANDBOX)
                session = compute.store.sessions.find_live(key)
                assert session is not None and session.endpoint is not None
                hermes = runtime.headers(session.id)
                with console.status("starting the echo agent's session…"):
                    echo_ensure = post("/v1/compute/sessions", {"sandbox_id": ECHO_SANDBOX})
                    run_load(echo_ensure, tcp_client(url, auth), concurrency=1, requests=1)
                echo_key = SessionKey(user_id=USER, sandbox_id=ECHO_SANDBOX)
                echo = compute.store.sessions.find_live(echo_key)
                assert echo is not None and echo.endpoint is not None
                assert echo.runtime == "echo", echo.runtime
                upstreams = Upstreams(
                    hermes=session.endpoint, hermes_headers=hermes, echo=echo.endpoint
                )
                rows += measure(args, url, auth, upstreams, litellm, home)
        finally:
            for record in compute.store.sessions.list():
                if record.state.value not in ("destroyed", "failed"):
                    compute.destroy(record.id)
            compute.store.close()

    report(rows, args.json, litellm is not None, workers=args.workers)
    shutil.rmtree(home, ignore_errors=True)  # kept when the run fails: its logs are in it


@dataclass(frozen=True, kw_only=True)
class Upstreams:
    """The two sessions the paths reach: Hermes's (with its API key) and the echo agent's."""

    hermes: Endpoint
    hermes_headers: dict[str, str]
    echo: Endpoint


def measure(
    args: argparse.Namespace,
    url: str,
    auth: dict[str, str],
    upstreams: Upstreams,
    litellm: Path | None,
    home: Path,
) -> list[Row]:
    rows: list[Row] = []
    endpoint, hermes = upstreams.hermes, upstreams.hermes_headers
    with ExitStack() as stack:
        relayed = stack.enter_context(tcp_unix_relay(endpoint.address, home))
        echo_relayed = stack.enter_context(
            tcp_unix_relay(upstreams.echo.address, home, name="echo-relay")
        )

        def conversation(name: str) -> dict[str, str]:
            return {"X-Hermes-Session-Id": f"bench-{name}"}

        direct = Route(
            name="(a) Hermes, unix socket",
            short="(a) Hermes",
            client=unix_client(endpoint, hermes),
            model="hermes-agent",
            headers=conversation("unix"),
        )
        via_relay = Route(
            name="(a) Hermes, TCP relay",
            short="(a) Hermes, TCP relay",
            client=tcp_client(relayed, hermes),
            model="hermes-agent",
            headers=conversation("relay"),
        )
        router = Route(
            name="(b) router",
            short="(b) router",
            client=tcp_client(url, auth),
            model=ADDRESS,
            headers={},
        )
        paths = [direct, via_relay, router]
        proxy: Route | None = None
        echo_proxy: Route | None = None
        if litellm is not None:
            key = hermes["Authorization"].removeprefix("Bearer ")
            proxied = litellm_proxy(
                litellm,
                upstreams=(
                    Upstream(
                        model=MODEL,
                        upstream=f"{relayed}/v1",
                        upstream_model="hermes-agent",
                        api_key=key,
                        headers=conversation("litellm"),
                    ),
                    Upstream(
                        model=ECHO_MODEL,
                        upstream=f"{echo_relayed}/v1",
                        upstream_model="echo",
                        api_key=ECHO_KEY,
                        headers=echo_conversation("litellm"),
                    ),
                ),
                workdir=home,
            )
            with console.status("starting the LiteLLM proxy…"):
                proxy_url, proxy_key = stack.enter_context(proxied)
            proxy_client = tcp_client(proxy_url, {"Authorization": f"Bearer {proxy_key}"})
            proxy = Route(
                name="(c) LiteLLM → relay → Hermes",
                short="(c) LiteLLM",
                client=proxy_client,
                model=MODEL,
                headers={},
            )
            echo_proxy = Route(
                name="(f) LiteLLM → relay → echo",
                short="(f) LiteLLM → relay → echo",
                client=proxy_client,
                model=ECHO_MODEL,
                headers={},
            )
            paths.append(proxy)
        turns = alternate(paths, args.rounds)
        rows += [Row(name=f"{p.name}, c=1", load=turns[p.name]) for p in paths]
        if proxy is None:
            rows.append(Row(name="(c) LiteLLM → relay → Hermes, c=1", load=None))

        c = args.stream_concurrency
        streaming = [p for p in (direct, router, proxy) if p is not None]
        loads = streamed(streaming, concurrency=c, turns=args.stream_turns)
        rows += [Row(name=f"{p.short} streaming, c={c}", load=loads[p.name]) for p in streaming]
        if proxy is None:
            rows.append(Row(name=f"(c) LiteLLM streaming, c={c}", load=None))
        rows += fast_upstream(args, url, auth, upstreams.echo, echo_relayed, echo_proxy)

    api = tcp_client(url, auth)
    ensure = post("/v1/compute/sessions", {"sandbox_id": SANDBOX})
    for name, call in (("GET /v1/models", get("/v1/models")), ("ensure, warm", ensure)):
        for conc in (1, args.concurrency):
            with console.status(f"{name} at c={conc}…"):
                load = run_load(call, api, concurrency=conc, requests=args.requests)
            rows.append(Row(name=f"router {name}, c={conc}", load=load))
    with bare_server(home) as bare:
        for conc in (1, args.concurrency):
            load = run_load(
                get("/"), tcp_client(bare, {}), concurrency=conc, requests=args.requests
            )
            rows.append(Row(name=f"empty ASGI app (harness ceiling), c={conc}", load=load))
    return rows


def echo_conversation(name: str) -> dict[str, str]:
    """A conversation of its own on the echo server, as the router's agent has."""
    return {"X-Echo-Conversation": f"bench-{name}"}


def fast_upstream(
    args: argparse.Namespace,
    url: str,
    auth: dict[str, str],
    echo: Endpoint,
    relayed: str,
    proxy: Route | None,
) -> list[Row]:
    """Streaming at c=16 in front of the echo agent: (e) router, (f) LiteLLM, (g) the echo
    server itself (its socket, and the relay (f) goes through), interleaved as
    :func:`streamed` does, in bursts of 8 per thread (a burst of 2 at the echo server's speed
    would be mostly the threads starting)."""
    router = Route(
        name="(e) router → echo",
        short="(e) router → echo",
        client=tcp_client(url, auth),
        model=ECHO_ADDRESS,
        headers={},
    )
    direct = Route(
        name="(g) echo, unix socket",
        short="(g) echo",
        client=unix_client(echo, {}),
        model="echo",
        headers=echo_conversation("unix"),
    )
    via_relay = Route(
        name="(g) echo, TCP relay",
        short="(g) echo, TCP relay",
        client=tcp_client(relayed, {}),
        model="echo",
        headers=echo_conversation("relay"),
    )
    paths = [router, *([proxy] if proxy is not None else []), direct, via_relay]
    for p in paths:  # each path's connection, and the router's agent, warm before timing
        with p.client() as client:
            p.turn(stream=True)(client)
    c = args.fast_concurrency
    loads = streamed(paths, concurrency=c, turns=args.fast_turns, per_thread=8)
    rows = [Row(name=f"{router.short} streaming, c={c}", load=loads[router.name])]
    if proxy is None:
        rows.append(Row(name=f"(f) LiteLLM → relay → echo streaming, c={c}", load=None))
    else:
        rows.append(Row(name=f"{proxy.short} streaming, c={c}", load=loads[proxy.name]))
    rows += [
        Row(name=f"{p.short} streaming, c={c}", load=loads[p.name]) for p in (direct, via_relay)
    ]
    return rows


def rate(rps: float) -> str:
    return f"{rps:,.0f}" if rps >= 10 else f"{rps:.1f}"


def report(rows: list[Row], path: Path, with_litellm: bool, *, workers: int) -> None:
    loop, http = server_implementations()
    title = (
        f"the OpenAI-compatible API: Hermes, router ({workers} worker"
        f"{'s' if workers > 1 else ''}; {loop}, {http}), LiteLLM; then an echo upstream"
    )
    table = Table(title=title, title_justify="left")
    for column in ("measure", "n", "p50", "req/s"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for row in rows:
        if row.load is None:
            table.add_row(row.name, "", "not measured", "")
            continue
        load = row.load
        table.add_row(row.name, str(len(load.latencies_s)), ms(load.p50_s), rate(load.rps))
    console.print(table)
    if not with_litellm:
        console.print(f"(c), (f): {NOT_MEASURED}; make bench measures them (scripts/litellm-venv)")

    def find(prefix: str) -> Load | None:
        return next((r.load for r in rows if r.name.startswith(prefix)), None)

    direct, relay, router = find("(a) Hermes, unix"), find("(a) Hermes, TCP"), find("(b)")
    streamed, upstream = find("(b) router streaming"), find("(a) Hermes streaming")
    assert direct and relay and router and streamed and upstream
    litellm, proxied = find("(c) LiteLLM →"), find("(c) LiteLLM streaming")
    goals: dict[str, float] = {}
    verdicts = Table(title="goals (printed, never asserted)", title_justify="left")
    for column in ("goal", "measured", "verdict"):
        verdicts.add_column(column)

    ratio = goals["router_over_hermes_p50"] = router.p50_s / direct.p50_s
    verdicts.add_row("(b)/(a) at p50 ≤ 1.02", f"{ratio:.3f}", verdict(ratio <= 1.02))
    added = goals["router_added_ms_p50"] = (router.p50_s - direct.p50_s) * 1000
    beside = ""
    if litellm is not None:
        goals["litellm_added_ms_p50"] = (litellm.p50_s - relay.p50_s) * 1000
        beside = f" (LiteLLM: {goals['litellm_added_ms_p50']:.1f} ms)"
    verdicts.add_row(
        "router adds ≤ 2 ms at p50, c=1",
        f"{added:.1f} ms{beside}",
        verdict(added <= 2),
    )
    fast, fast_proxied = find("(e) router → echo streaming"), find("(f) LiteLLM → relay → echo")
    echo = find("(g) echo streaming")
    assert fast and echo
    fc = fast.concurrency
    if fast_proxied is not None:
        times = goals["router_over_litellm_rps_streaming"] = fast.rps / fast_proxied.rps
        verdicts.add_row(
            f"stream c={fc}: router ≥ 10x LiteLLM req/s (echo upstream)",
            f"{times:.2f}x ({rate(fast.rps)}/s vs {rate(fast_proxied.rps)}/s)",
            verdict(times >= 10),
        )
    else:
        verdicts.add_row(f"stream c={fc}: router ≥ 10x LiteLLM req/s", NOT_MEASURED, "")
    share = goals["router_over_echo_rps_streaming"] = fast.rps / echo.rps
    verdicts.add_row(
        f"stream c={fc}: router's share of the echo server's own req/s",
        f"{share:.2f} ({rate(echo.rps)}/s direct)",
        "information",
    )
    c = streamed.concurrency
    if proxied is not None:
        times = goals["router_over_litellm_rps_streaming_hermes"] = streamed.rps / proxied.rps
        verdicts.add_row(
            f"stream c={c}, Hermes upstream: router / LiteLLM req/s",
            f"{times:.2f}x (Hermes: {rate(upstream.rps)}/s)",
            "information (Hermes caps both)",
        )
    else:
        verdicts.add_row(f"stream c={c}, Hermes upstream: router / LiteLLM", NOT_MEASURED, "")
    warm = max(
        (r.load for r in rows if r.name.startswith("router ensure, warm") and r.load),
        key=lambda load: load.rps,
    )
    goals["warm_ensure_rps"] = warm.rps
    verdicts.add_row(
        "warm ensure over HTTP ≥ 1,000/s",
        f"{rate(warm.rps)}/s at c={warm.concurrency}",
        verdict(warm.rps >= 1000),
    )
    console.print(verdicts)
    write_report(
        path,
        {
            "litellm": with_litellm,
            "workers": workers,
            "loop": loop,
            "http": http,
            "rows": [r.report() for r in rows],
            "goals": goals,
        },
    )


if __name__ == "__main__":
    main()
