"""Lifecycle benchmark on the local provider, measured side by side in one run.

Reports, for real isolated sessions running the echo runtime:
  - a request to an unfrozen session (the baseline),
  - resume: thaw → first successful runtime response, at the provider and through the router
    (``ensure_session`` on a suspended session, including its store writes),
  - cold create (``ensure_session`` for a new key, until the runtime answers),
  - archive and restore of a small workspace.
Results are ratios against the baseline, since this machine is shared and noisy; the goal
(resume p50 ≤ 5 ms) is printed next to the measurement, never asserted.

    .venv/bin/python bench/lifecycle.py [--rounds 30] [--json bench/results/lifecycle.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.values import SessionKey
from computerouter.runtimes.transport import client_for

console = Console()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": statistics.median(values) * 1000,
        "p90_ms": pct(values, 0.9) * 1000,
        "p99_ms": pct(values, 0.99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--creates", type=int, default=8)
    parser.add_argument("--json", type=Path, default=Path("bench/results/lifecycle.json"))
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="cr-bench-"))
    router = open_router(Settings.load(home=home, lifecycle_daemon=False))
    provider = router.provider("local")
    results: dict[str, list[float]] = {
        "request (unfrozen)": [],
        "resume at provider (thaw → 200)": [],
        "resume via ensure_session (→ 200)": [],
        "cold create (→ 200)": [],
        "archive": [],
        "restore via ensure_session (→ 200)": [],
    }
    key = SessionKey(user_id="bench", sandbox_id="resume")
    session = router.ensure_session(key, runtime="echo")
    assert session.endpoint is not None and session.instance_id is not None
    total = args.rounds * 3 + args.creates + 4
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("measuring", total=total)
        with client_for(session.endpoint, timeout_s=10) as client:
            client.get("/health").raise_for_status()
            for _ in range(args.rounds):
                # Interleave baseline and resume so both see the same machine noise.
                started = time.perf_counter()
                client.get("/health").raise_for_status()
                results["request (unfrozen)"].append(time.perf_counter() - started)

                provider.suspend(session.instance_id)
                time.sleep(0.01)
                started = time.perf_counter()
                provider.resume(session.instance_id)
                client.get("/health").raise_for_status()
                results["resume at provider (thaw → 200)"].append(time.perf_counter() - started)
                progress.advance(task, 2)

                router.suspend(session.id)
                time.sleep(0.01)
                started = time.perf_counter()
                router.ensure_session(key)
                client.get("/health").raise_for_status()
                results["resume via ensure_session (→ 200)"].append(time.perf_counter() - started)
                progress.advance(task)

        for i in range(args.creates):
            started = time.perf_counter()
            fresh = router.ensure_session(
                SessionKey(user_id="bench", sandbox_id=f"cold{i}"), runtime="echo"
            )
            assert fresh.endpoint is not None
            with client_for(fresh.endpoint, timeout_s=10) as client:
                client.get("/health").raise_for_status()
            results["cold create (→ 200)"].append(time.perf_counter() - started)
            router.destroy(fresh.id)
            progress.advance(task)

        for _ in range(2):
            started = time.perf_counter()
            router.archive(session.id)
            results["archive"].append(time.perf_counter() - started)
            started = time.perf_counter()
            restored = router.ensure_session(key)
            assert restored.endpoint is not None
            with client_for(restored.endpoint, timeout_s=10) as client:
                client.get("/health").raise_for_status()
            results["restore via ensure_session (→ 200)"].append(time.perf_counter() - started)
            progress.advance(task, 2)
        router.destroy(session.id)

    baseline = statistics.median(results["request (unfrozen)"])
    table = Table(title="local provider lifecycle (echo runtime)", title_justify="left")
    for column in ("measure", "n", "p50", "p90", "p99", "p50 / request"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    report: dict[str, object] = {}
    for name, values in results.items():
        s = summary(values)
        ratio = statistics.median(values) / baseline
        report[name] = {**s, "ratio_to_request": ratio}
        table.add_row(
            name,
            str(s["n"]),
            f"{s['p50_ms']:.2f} ms",
            f"{s['p90_ms']:.2f} ms",
            f"{s['p99_ms']:.2f} ms",
            f"{ratio:.1f}x",
        )
    console.print(table)
    resume_p50 = statistics.median(results["resume at provider (thaw → 200)"]) * 1000
    verdict = "[green]met[/]" if resume_p50 <= 5 else "[red]not met[/]"
    console.print(
        f"goal: resume p50 ≤ 5 ms (Daytona advertises ~30 ms warm start; Sprites 100-500 ms): "
        f"{resume_p50:.2f} ms, {verdict}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    console.print(f"[dim]wrote {args.json}[/]")


if __name__ == "__main__":
    main()
