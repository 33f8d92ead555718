"""fly_sprites through its emulator, at the vendor's published timings, side by side in one run.

Reports, for the echo runtime on emulated sprites (speed 1):
  - a request to a running sprite (the baseline),
  - a warm wake: the first response from a sprite that went warm (published: 0.1-0.5 s),
  - a cold wake: the first response from a cold sprite, its Service restarted (1-2 s),
  - create: ``Provider.create`` until the runtime answers through the sprite URL.
Ratios against the baseline; the published figures are printed beside, never asserted.

    .venv/bin/python bench/fly_sprites_wake.py [--rounds 5] [--creates 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sprites import SpritesClient

from computerouter.domain.values import Labels, Resources
from computerouter.emulators.fly_sprites import Timings, World, start
from computerouter.providers.base import InstanceSpec
from computerouter.providers.fly_sprites.provider import FlySpritesProvider
from computerouter.runtimes.echo import EchoRuntime

console = Console()
PUBLISHED = {"warm wake (→ 200)": "0.1-0.5 s", "cold wake (→ 200)": "1-2 s"}


def spec() -> InstanceSpec:
    session_id = f"ses_{uuid.uuid4().hex[:12]}"
    return InstanceSpec(
        idempotency_key=session_id,
        labels=Labels(session_id=session_id, user_id="bench", sandbox_id="sprites"),
        resources=Resources(cpus=1.0, memory_mb=512, pids=128),
        launch=EchoRuntime().launch_spec(session_id=session_id),
    )


def wait_status(client: SpritesClient, name: str, status: str) -> None:
    deadline = time.monotonic() + 120
    while client.get_sprite(name).status != status:
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} never became {status}")
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--creates", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("bench/results/fly_sprites_wake.json"))
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="cr-bench-sprites-"))
    world = World(root=root, token="bench", timings=Timings(idle_to_warm_s=1e9))
    emulator = start(world)
    provider = FlySpritesProvider(token="bench", base_url=emulator.url)
    client = SpritesClient("bench", base_url=emulator.url)
    results: dict[str, list[float]] = {
        "request (running)": [],
        "warm wake (→ 200)": [],
        "cold wake (→ 200)": [],
        "create (→ 200)": [],
    }
    try:
        for _ in range(args.creates):
            started = time.perf_counter()
            instance = provider.create(spec())
            results["create (→ 200)"].append(time.perf_counter() - started)
        assert instance.endpoint is not None
        url = instance.endpoint.address + "/health"
        name = instance.instance_id
        for _ in range(args.rounds):
            world.timings = Timings(idle_to_warm_s=1e9)
            started = time.perf_counter()
            httpx.get(url, timeout=30).raise_for_status()
            results["request (running)"].append(time.perf_counter() - started)
            for label, idle in (("warm wake (→ 200)", 1e9), ("cold wake (→ 200)", 0.2)):
                world.timings = Timings(idle_to_warm_s=0.2, warm_to_cold_s=idle)
                wait_status(client, name, "warm" if idle > 1e8 else "cold")
                started = time.perf_counter()
                while httpx.get(url, timeout=30).status_code != 200:
                    pass  # a cold wake answers once the restarted Service listens
                results[label].append(time.perf_counter() - started)
                world.timings = Timings(idle_to_warm_s=1e9)
    finally:
        for made in provider.list():
            provider.destroy(made.instance_id)
        emulator.stop()

    base = statistics.median(results["request (running)"])
    table = Table(title="fly_sprites (emulated, vendor timings)")
    for column in ("measure", "n", "p50 ms", "x baseline", "published"):
        table.add_column(column)
    report = {}
    for label, values in results.items():
        p50 = statistics.median(values)
        report[label] = {"n": len(values), "p50_ms": p50 * 1000, "ratio": p50 / base}
        table.add_row(
            label,
            str(len(values)),
            f"{p50 * 1000:.1f}",
            f"{p50 / base:.1f}",
            PUBLISHED.get(label, ""),
        )
    console.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
