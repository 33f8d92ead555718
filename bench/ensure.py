"""Warm ``ensure_session`` (a running session, one process) on SQLite and PostgreSQL, now
against a baseline revision, side by side in one run.

The baseline is the same workload run by this script in a subprocess on the source tree of
``--before`` (a git revision, exported with ``git archive``); ``--before ''`` skips it. Each
result is shown against the goal: ``met``, or the fraction of the goal reached. This machine
is shared and noisy: only ratios measured in the same run mean much. Nothing is asserted.

    .venv/bin/python bench/ensure.py [--calls 5000] [--before REV] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.values import SessionKey
from computerouter.store import open_store
from computerouter.testing import FakeProvider, FakeRuntime

console = Console(width=None if sys.stdout.isatty() else 120)  # full rows in logs too
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG = os.environ.get("COMPUTEROUTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BASELINE = "25353ee2176faf8e515fa60d3f2bb28ea6a00d03"
"""The revision before warm ensure became read-only (one read and one write per call)."""
GOALS = {"sqlite": 10_000.0, "postgresql": 2_000.0}
"""Warm ensures per second, the goal on each store."""


@contextmanager
def database(kind: str, pg_base: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="cr-bench-ensure-") as home:
            yield f"sqlite:///{Path(home) / 'computerouter.db'}"
        return
    import psycopg

    admin = psycopg.connect(pg_base, autocommit=True, connect_timeout=3)
    schema = f"cr_bench_{secrets.token_hex(4)}"
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{pg_base}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def warm_ensures(url: str, calls: int) -> float:
    """Warm ensures per second on one running session (the clock is real: activity is
    recorded as it would be in production)."""
    store = open_store(url)
    try:
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
        )
        key = SessionKey(user_id="alice", sandbox_id="sb")
        router.ensure_session(key)
        for _ in range(min(calls, 100)):  # warm the pool and the statement caches
            router.ensure_session(key)
        started = time.perf_counter()
        for _ in range(calls):
            router.ensure_session(key)
        return calls / (time.perf_counter() - started)
    finally:
        store.close()


def measure(args: argparse.Namespace) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    for kind in ("sqlite", "postgresql"):
        try:
            with database(kind, args.pg_url) as url:
                out[kind] = warm_ensures(url, args.calls)
        except Exception as exc:  # PostgreSQL unreachable: say why, measure the rest
            out[kind] = f"not measured ({str(exc).splitlines()[0] if str(exc) else exc!r})"
    return out


def baseline(args: argparse.Namespace) -> dict[str, float | str] | str:
    """This workload on the ``--before`` source tree, in a subprocess; or why not."""
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
        env = os.environ | {"PYTHONPATH": str(Path(tree) / "src")}
        worker = [sys.executable, __file__, "--worker", "--calls", str(args.calls)]
        done = subprocess.run(
            [*worker, "--pg-url", args.pg_url],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            return f"baseline failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
        result: dict[str, float | str] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def against_goal(value: float | str, goal: float) -> str:
    if isinstance(value, str):
        return "-"
    return "met" if value >= goal else f"{value / goal:.2f} of goal"


def rate(value: float | str | None) -> str:
    return f"{value:,.0f}" if isinstance(value, float) else "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--before", default=BASELINE, help="git revision to compare against")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--json", type=Path, default=Path("bench/results/ensure.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:  # the baseline's side: measure, print one JSON line, nothing else
        print(json.dumps(measure(args)))
        return

    with console.status("warm ensure, now…"):
        now = measure(args)
    before: dict[str, float | str] | str = "skipped (--before '')"
    if args.before:
        with console.status(f"warm ensure, at {args.before[:12]}…"):
            before = baseline(args)
    table = Table(title="warm ensure_session, per second (higher is better)", title_justify="left")
    for column in ("store", "before", "now", "now / before", "goal", "against goal"):
        table.add_column(column, justify="left" if column == "store" else "right")
    for kind, goal in GOALS.items():
        after = now[kind]
        prior = before.get(kind) if isinstance(before, dict) else None
        speedup = (
            f"{after / prior:.1f}x"
            if isinstance(after, float) and isinstance(prior, float)
            else "-"
        )
        table.add_row(
            kind, rate(prior), rate(after), speedup, f"{goal:,.0f}", against_goal(after, goal)
        )
    console.print(table)
    for kind in GOALS:
        if isinstance(now[kind], str):
            console.print(f"[yellow]{kind}: {now[kind]}[/]")
    if isinstance(before, str):
        console.print(f"[yellow]{before}[/]")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {"args": vars(args) | {"json": str(args.json)}, "now": now, "before": before}
    args.json.write_text(json.dumps(report))
    console.print(f"[dim]written to {args.json}[/]")


if __name__ == "__main__":
    main()
