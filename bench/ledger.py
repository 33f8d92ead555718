"""Ledger throughput on SQLite and PostgreSQL, at 1 and 8 concurrent writers, now against a
baseline revision, side by side in one run.

Six workloads, each on a fresh database of each kind:
  - grant x1, x8: one double-entry write per call, by 1 or 8 threads (a user each);
  - settle x1, x8: the end-of-run step of ended runs (meter, token entry, compute entry, hold
    freed), by 1 or 8 settlers at once (a session each), each settle its own transaction;
  - settle batched x1, x8: the same settlers through a ``SettleBatcher`` (one writer thread
    settles whatever is queued in one transaction; a revision without it shows ``-``).
The baseline is the same workloads run by this script in a subprocess on the source tree of
``--before`` (a git revision, exported with ``git archive``); ``--before ''`` skips it. Each
result is shown against its goal: ``met``, or the fraction of the goal reached. This machine
is shared and noisy: only ratios measured in the same run mean much. Nothing is asserted.

    .venv/bin/python bench/ledger.py [--writes 2000] [--runs 400] [--before REV] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
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

console = Console(width=None if sys.stdout.isatty() else 120)  # full rows in logs too
ROOT = Path(__file__).resolve().parents[1]
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


BASELINE = "25353ee2176faf8e515fa60d3f2bb28ea6a00d03"
"""The revision before a settle became one transaction."""
THREADS = (1, 8)
GOALS = {
    ("grant", "sqlite"): 20_000.0,
    ("grant", "postgresql"): 2_000.0,
    ("settle", "sqlite"): 5_000.0,
    ("settle", "postgresql"): 2_000.0,
    ("settle batched", "sqlite"): 5_000.0,
    ("settle batched", "postgresql"): 2_000.0,
}
"""Per second: entries for grants, runs for settles (the goal is for concurrent settlers)."""


def in_threads(threads: int, work: Callable[[int], None]) -> float:
    """Run ``work(i)`` in ``threads`` threads started together; the seconds they took."""
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def bench_grants(store: Store, writes: int, threads: int) -> float:
    ledger = Ledger(store=store, prices=default_prices())
    per_thread = max(1, writes // threads)

    def work(i: int) -> None:
        for _ in range(per_thread):
            ledger.grant(f"user{i}", 1_000)

    return per_thread * threads / in_threads(threads, work)


class Unavailable(Exception):
    """The workload needs what the measured revision does not have."""


def bench_settle(
    store: Store, runs: int, url: str, threads: int, *, batched: bool = False
) -> float:
    """Ended runs, ``runs // threads`` on each of ``threads`` sessions (as busy sandboxes
    have), settled by one settler per session at once: 2 entries per run (and an idle entry
    for the gap before each). ``batched``: through one ``SettleBatcher``."""
    if batched:
        try:
            from computerouter.ledger import SettleBatcher
        except ImportError as exc:
            raise Unavailable from exc
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
    per_thread = max(1, runs // threads)
    kind = "batched_" if batched else ""
    ids: list[list[str]] = []
    for t in range(threads):
        user = f"user{t}"
        session = router.ensure_session(SessionKey(user_id=user, sandbox_id="sb"))
        ids.append([])
        for i in range(per_thread):
            run_id = f"run_bench_{kind}{threads}_{t}_{i:06d}"
            now = clock.now()
            store.runs.begin(
                RunRecord(
                    run_id=run_id,
                    session_id=session.id,
                    user_id=user,
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
            ids[t].append(run_id)

    if not batched:

        def work(t: int) -> None:
            for run_id in ids[t]:
                ledger.settle_run(run_id)

        return per_thread * threads / in_threads(threads, work)
    with SettleBatcher(ledger) as batcher:

        def work_batched(t: int) -> None:
            for run_id in ids[t]:
                batcher.settle_run(run_id)

        return per_thread * threads / in_threads(threads, work_batched)


WORKLOADS: list[tuple[str, str, int, Callable[[Store, argparse.Namespace, str], float]]] = [
    *(
        ("grant", "entries/s", n, lambda s, a, u, n=n: bench_grants(s, a.writes, n))
        for n in THREADS
    ),
    *(("settle", "runs/s", n, lambda s, a, u, n=n: bench_settle(s, a.runs, u, n)) for n in THREADS),
    *(
        (
            "settle batched",
            "runs/s",
            n,
            lambda s, a, u, n=n: bench_settle(s, a.runs, u, n, batched=True),
        )
        for n in THREADS
    ),
]


def label(name: str, threads: int) -> str:
    return f"{name} x{threads}"


def measure(url: str, args: argparse.Namespace) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, _, threads, fn in WORKLOADS:
        store = open_store(url)
        try:
            out[label(name, threads)] = fn(store, args, url)
        except Unavailable:
            continue
        finally:
            store.close()
    return out


def measure_all(args: argparse.Namespace) -> dict[str, dict[str, float] | str]:
    results: dict[str, dict[str, float] | str] = {}
    with sqlite_url() as url:
        results["sqlite"] = measure(url, args)
    try:
        with pg_url(args.pg_url) as url:
            results["postgresql"] = measure(url, args)
    except Exception as exc:  # unreachable PostgreSQL: report SQLite alone, and say why
        results["postgresql"] = f"not measured ({(str(exc) or repr(exc)).splitlines()[0]})"
    return results


def baseline(args: argparse.Namespace) -> dict[str, dict[str, float] | str] | str:
    """These workloads on the ``--before`` source tree, in a subprocess; or why not."""
    with tempfile.TemporaryDirectory(prefix="cr-bench-before-") as tree:
        archive = Path(tree) / "src.tar"
        exported = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "-o", str(archive), args.before, "src"],
            capture_output=True,
            text=True,
            check=False,
        )
        if exported.returncode != 0:
            return f"baseline {args.before[:12]} not available: {exported.stderr.strip()}"
        subprocess.run(["tar", "-xf", str(archive), "-C", tree], check=True)
        worker = [sys.executable, __file__, "--worker", "--writes", str(args.writes)]
        done = subprocess.run(
            [*worker, "--runs", str(args.runs), "--pg-url", args.pg_url],
            capture_output=True,
            text=True,
            env=os.environ | {"PYTHONPATH": str(Path(tree) / "src")},
            check=False,
        )
        if done.returncode != 0:
            return f"baseline failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
        result: dict[str, dict[str, float] | str] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def cell(results: dict[str, dict[str, float] | str] | str, kind: str, key: str) -> float | None:
    if not isinstance(results, dict):
        return None
    found = results.get(kind)
    return found.get(key) if isinstance(found, dict) else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--before", default=BASELINE, help="git revision to compare against")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--json", type=Path, default=Path("bench/results/ledger.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:  # the baseline's side: measure, print one JSON line, nothing else
        print(json.dumps(measure_all(args)))
        return

    with console.status("ledger, now…"):
        now = measure_all(args)
    before: dict[str, dict[str, float] | str] | str = "skipped (--before '')"
    if args.before:
        with console.status(f"ledger, at {args.before[:12]}…"):
            before = baseline(args)

    table = Table(title="ledger throughput (higher is better)", title_justify="left")
    for column in ("workload", "unit", "store", "before", "now", "now / before", "goal", "vs goal"):
        table.add_column(
            column, justify="left" if column in ("workload", "unit", "store") else "right"
        )
    for name, unit, threads, _ in WORKLOADS:
        key = label(name, threads)
        for kind in ("sqlite", "postgresql"):
            after, prior = cell(now, kind, key), cell(before, kind, key)
            goal = GOALS[(name, kind)]
            table.add_row(
                key,
                unit,
                kind,
                "-" if prior is None else f"{prior:,.0f}",
                "-" if after is None else f"{after:,.0f}",
                "-" if after is None or not prior else f"{after / prior:.1f}x",
                f"{goal:,.0f}",
                "-" if after is None else ("met" if after >= goal else f"{after / goal:.2f}"),
            )
    console.print(table)
    for kind, value in now.items():
        if isinstance(value, str):
            console.print(f"[yellow]{kind}: {value}[/]")
    if isinstance(before, str):
        console.print(f"[yellow]{before}[/]")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {"args": vars(args) | {"json": str(args.json)}, "now": now, "before": before}
    args.json.write_text(json.dumps(report))
    console.print(f"[dim]written to {args.json}[/]")


if __name__ == "__main__":
    main()
