"""Ledger write throughput on SQLite and PostgreSQL, measured side by side in one run.

Three workloads, each on a fresh database of each kind:
  - grant: one double-entry write per call (insert + two balance updates, one transaction);
  - settle: the end-of-run step of ended runs (meter, token entry, compute entry, hold freed);
  - grant x4: four threads writing grants for four users at once.
Reported as writes per second and as the ratio PostgreSQL / SQLite; this machine is shared and
noisy, so only the ratio measured in the same run means much. Nothing is asserted.

    .venv/bin/python bench/ledger.py [--writes 2000] [--runs 500] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.session import RunRecord, RunState
from computerouter.domain.values import SessionKey
from computerouter.ledger import Ledger, default_prices
from computerouter.store import Store, open_store
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime

console = Console()
DEFAULT_PG = os.environ.get("COMPUTEROUTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="cr-bench-ledger-") as home:
        yield f"sqlite:///{Path(home) / 'computerouter.db'}"


@contextmanager
def pg_url(base: str) -> Iterator[str]:
    import psycopg

    admin = psycopg.connect(base, autocommit=True, connect_timeout=3)
    schema = f"cr_bench_{secrets.token_hex(4)}"
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def bench_grants(store: Store, writes: int) -> float:
    ledger = Ledger(store=store, prices=default_prices())
    started = time.perf_counter()
    for _ in range(writes):
        ledger.grant("alice", 1_000)
    return writes / (time.perf_counter() - started)


def bench_grants_threads(store: Store, writes: int, threads: int = 4) -> float:
    ledger = Ledger(store=store, prices=default_prices())
    per_thread = writes // threads
    barrier = threading.Barrier(threads + 1)

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(per_thread):
            ledger.grant(f"user{i}", 1_000)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    for w in workers:
        w.join()
    return per_thread * threads / (time.perf_counter() - started)


def bench_settle(store: Store, runs: int, url: str) -> float:
    """Ended runs on one session (as a busy sandbox has), each settled: 2 entries per run."""
    clock = FakeClock()
    settings = Settings.load(
        env={},
        home=Path(tempfile.gettempdir()),
        database_url=url,
        default_provider="fake",
        default_runtime="fake",
    )
    router = ComputeRouter(
        store=store,
        providers={"fake": FakeProvider()},
        runtimes={"fake": FakeRuntime()},
        settings=settings,
        clock=clock,
    )
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    session = router.ensure_session(SessionKey(user_id="alice", sandbox_id="sb"))
    ids = []
    for i in range(runs):
        run_id = f"run_bench_{i:06d}"
        now = clock.now()
        store.runs.begin(
            RunRecord(
                run_id=run_id,
                session_id=session.id,
                user_id="alice",
                sandbox_id="sb",
                agent_id="bot",
                state=RunState.RUNNING,
                started_at=now,
                heartbeat_at=now,
            )
        )
        clock.advance(0.25)
        store.runs.end(run_id, state=RunState.COMPLETED, now=clock.now())
        ledger.record_usage(run_id, model="m", input_tokens=1_000, output_tokens=200)
        clock.advance(0.05)
        ids.append(run_id)
    started = time.perf_counter()
    for run_id in ids:
        ledger.settle_run(run_id)
    return runs / (time.perf_counter() - started)


WORKLOADS: list[tuple[str, str, Callable[[Store, argparse.Namespace, str], float]]] = [
    ("grant", "entries/s", lambda s, a, u: bench_grants(s, a.writes)),
    ("settle (2 entries/run)", "runs/s", lambda s, a, u: bench_settle(s, a.runs, u)),
    ("grant x4 threads", "entries/s", lambda s, a, u: bench_grants_threads(s, a.writes)),
]


def measure(url: str, args: argparse.Namespace) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, _, fn in WORKLOADS:
        store = open_store(url)
        try:
            out[name] = fn(store, args, url)
        finally:
            store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--json", type=Path, default=Path("bench/results/ledger.json"))
    args = parser.parse_args()

    results: dict[str, dict[str, float]] = {}
    with console.status("SQLite…"), sqlite_url() as url:
        results["sqlite"] = measure(url, args)
    pg_note = ""
    try:
        with console.status("PostgreSQL…"), pg_url(args.pg_url) as url:
            results["postgresql"] = measure(url, args)
    except Exception as exc:  # unreachable PostgreSQL: report SQLite alone, and say why
        pg_note = f"PostgreSQL not measured ({str(exc).splitlines()[0]})"

    table = Table(title="ledger write throughput (higher is better)", title_justify="left")
    table.add_column("workload")
    table.add_column("unit")
    table.add_column("SQLite", justify="right")
    table.add_column("PostgreSQL", justify="right")
    table.add_column("PG / SQLite", justify="right")
    for name, unit, _ in WORKLOADS:
        lite = results["sqlite"][name]
        pg = results.get("postgresql", {}).get(name)
        table.add_row(
            name,
            unit,
            f"{lite:,.0f}",
            "-" if pg is None else f"{pg:,.0f}",
            "-" if pg is None else f"{pg / lite:.2f}",
        )
    console.print(table)
    if pg_note:
        console.print(f"[yellow]{pg_note}[/]")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, **results}))
    console.print(f"[dim]written to {args.json}[/]")


if __name__ == "__main__":
    main()
