"""Providers side by side in one run: ensure → first runtime response, and resume → response.

For each provider (``local``; ``daytona`` through its emulator, set to Daytona's published
timings unless ``--speed`` says otherwise) it measures, with the echo runtime:
  - cold create: ``create`` until the runtime's first ``/health`` answer,
  - resume: ``suspend``, then ``resume`` until the first answer,
  - a request to a running session (the baseline each is divided by).
Results are ratios against each provider's baseline and the figure the emulator is set to,
printed side by side; nothing is asserted.

    .venv/bin/python bench/providers.py [--rounds 5] [--speed 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

from computerouter.domain.values import Labels, Resources
from computerouter.emulators.daytona import EmulatorServer, EmulatorSettings, Timings
from computerouter.providers.base import InstanceSpec, Provider
from computerouter.providers.daytona.provider import DaytonaProvider
from computerouter.providers.local import LocalProvider
from computerouter.runtimes.echo import EchoRuntime
from computerouter.runtimes.transport import client_for

console = Console()


def spec() -> InstanceSpec:
    session_id = f"ses_{uuid.uuid4().hex[:20]}"
    return InstanceSpec(
        idempotency_key=session_id,
        labels=Labels(session_id=session_id, user_id="bench", sandbox_id="bench"),
        resources=Resources(cpus=1.0, memory_mb=512),
        launch=EchoRuntime().launch_spec(session_id=session_id),
    )


def measure(provider: Provider, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"request": [], "cold create → 200": [], "resume → 200": []}
    for _ in range(rounds):
        started = time.perf_counter()
        created = provider.create(spec())
        assert created.endpoint is not None
        with client_for(created.endpoint, timeout_s=30) as client:
            client.get("/health").raise_for_status()
        out["cold create → 200"].append(time.perf_counter() - started)
        iid = created.instance_id
        instance = provider.get(iid)
        assert instance is not None and instance.endpoint is not None
        with client_for(instance.endpoint, timeout_s=30) as client:
            started = time.perf_counter()
            client.get("/health").raise_for_status()
            out["request"].append(time.perf_counter() - started)
            provider.suspend(iid)

            started = time.perf_counter()
            provider.resume(iid)
            client.get("/health").raise_for_status()
            out["resume → 200"].append(time.perf_counter() - started)
        provider.destroy(iid)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--json", type=Path, default=Path("bench/results/providers.json"))
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="cr-bench-providers-"))
    timings = Timings(speed=args.speed)
    published: dict[str, dict[str, float | None]] = {
        "local": {"cold create → 200": None, "resume → 200": None},
        "daytona": {
            "cold create → 200": timings.scaled(timings.create_s),
            "resume → 200": timings.scaled(timings.start_s),
        },
    }
    results: dict[str, dict[str, list[float]]] = {}
    results["local"] = measure(LocalProvider(root=root / "local"), args.rounds)
    settings = EmulatorSettings(timings=timings)
    with EmulatorServer(root=root / "daytona", settings=settings) as emulator:
        daytona = DaytonaProvider(
            api_url=emulator.api_url, api_key=settings.api_key, router_id="bench"
        )
        results["daytona"] = measure(daytona, args.rounds)

    table = Table(title=f"providers side by side (echo runtime, emulator speed {args.speed:g})")
    for column in ("provider", "measure", "n", "p50", "p50 / request", "emulated figure"):
        table.add_column(column, justify="left" if column in ("provider", "measure") else "right")
    report: dict[str, object] = {}
    for name, measured in results.items():
        baseline = statistics.median(measured["request"])
        for measure_name in ("cold create → 200", "resume → 200"):
            values = measured[measure_name]
            p50 = statistics.median(values)
            figure = published[name][measure_name]
            report[f"{name}: {measure_name}"] = {
                "n": len(values),
                "p50_ms": p50 * 1000,
                "ratio_to_request": p50 / baseline,
                "emulated_figure_ms": None if figure is None else figure * 1000,
            }
            table.add_row(
                name,
                measure_name,
                str(len(values)),
                f"{p50 * 1000:.1f} ms",
                f"{p50 / baseline:.1f}x",
                "-" if figure is None else f"{figure * 1000:.0f} ms",
            )
    console.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    console.print(f"[dim]wrote {args.json}[/]")


if __name__ == "__main__":
    main()
