"""Providers side by side in one run: ensure → first runtime response, and resume → response.

For each provider (``local``; ``daytona`` and ``fly_sprites`` through their emulators, set to
the vendors' published timings unless ``--speed`` says otherwise) it measures, with the echo
runtime:
  - cold create: ``create`` until the runtime's first ``/health`` answer,
  - resume: ``suspend``, then ``resume`` until the first answer,
  - a request to a running session (the baseline each is divided by).
Sprites also hibernate by themselves when idle, and the next request wakes them; for
``fly_sprites`` it measures that too, on a sprite left alone until it is
  - warm (published: 0.1-0.5 s to the first answer), and
  - cold (published: 1-2 s; its Service restarts, so this also counts the runtime's start).
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
from sprites import SpritesClient

from computerouter.domain.values import Labels, Resources
from computerouter.emulators import fly_sprites
from computerouter.emulators.daytona import EmulatorServer, EmulatorSettings, Timings
from computerouter.providers.base import InstanceSpec, Provider
from computerouter.providers.daytona.provider import DaytonaProvider
from computerouter.providers.fly_sprites.provider import FlySpritesProvider
from computerouter.providers.local import LocalProvider
from computerouter.runtimes.echo import EchoRuntime
from computerouter.runtimes.transport import client_for

console = Console()
COLD_CREATE, RESUME = "cold create → 200", "resume → 200"
WARM_WAKE, COLD_WAKE = "warm wake → 200", "cold wake → 200"
Figure = tuple[float, float] | None
"""What the emulator is set to take, in seconds (low, high); None where nothing is emulated."""
NEVER = 1e9
"""An idle threshold no run reaches: sprites stay running unless a wake is being measured."""
IDLE_S = 0.2
"""How long a sprite is left alone before it hibernates, in real seconds, when measuring."""
TOKEN = "bench"


def spec() -> InstanceSpec:
    session_id = f"ses_{uuid.uuid4().hex[:20]}"
    return InstanceSpec(
        idempotency_key=session_id,
        labels=Labels(session_id=session_id, user_id="bench", sandbox_id="bench"),
        resources=Resources(cpus=1.0, memory_mb=512, pids=128),
        launch=EchoRuntime().launch_spec(session_id=session_id),
    )


def measure(provider: Provider, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"request": [], COLD_CREATE: [], RESUME: []}
    for _ in range(rounds):
        started = time.perf_counter()
        created = provider.create(spec())
        assert created.endpoint is not None
        with client_for(created.endpoint, timeout_s=30) as client:
            client.get("/health").raise_for_status()
        out[COLD_CREATE].append(time.perf_counter() - started)
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
            out[RESUME].append(time.perf_counter() - started)
        provider.destroy(iid)
    return out


def measure_wakes(
    provider: FlySpritesProvider, emulator: fly_sprites.RunningEmulator, rounds: int, speed: float
) -> dict[str, list[float]]:
    """First answers from a sprite that hibernated by itself, warm and then cold."""
    world = emulator.world
    vendor = SpritesClient(TOKEN, base_url=emulator.url)
    out: dict[str, list[float]] = {WARM_WAKE: [], COLD_WAKE: []}
    instance = provider.create(spec())
    assert instance.endpoint is not None
    try:
        with client_for(instance.endpoint, timeout_s=30) as client:
            for _ in range(rounds):
                for label, status, to_cold in (
                    (WARM_WAKE, "warm", NEVER),
                    (COLD_WAKE, "cold", IDLE_S),
                ):
                    world.timings = fly_sprites.Timings(
                        idle_to_warm_s=IDLE_S * speed, warm_to_cold_s=to_cold * speed, speed=speed
                    )
                    wait_status(vendor, instance.instance_id, status)
                    started = time.perf_counter()
                    while client.get("/health").status_code != 200:
                        pass  # a cold wake answers once the restarted Service listens
                    out[label].append(time.perf_counter() - started)
                    world.timings = fly_sprites.Timings(idle_to_warm_s=NEVER, speed=speed)
    finally:
        provider.destroy(instance.instance_id)
    return out


def wait_status(client: SpritesClient, name: str, status: str) -> None:
    deadline = time.monotonic() + 120
    while client.get_sprite(name).status != status:
        if time.monotonic() > deadline:
            raise SystemExit(f"sprite {name} never became {status}")
        time.sleep(0.02)


def ms(figure: Figure) -> str:
    if figure is None:
        return "-"
    low, high = (round(value * 1000) for value in figure)
    return f"{low} ms" if low == high else f"{low}-{high} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--json", type=Path, default=Path("bench/results/providers.json"))
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="cr-bench-providers-"))
    timings = Timings(speed=args.speed)
    sprites = fly_sprites.Timings(idle_to_warm_s=NEVER, speed=args.speed)
    published: dict[str, dict[str, Figure]] = {
        "local": {COLD_CREATE: None, RESUME: None},
        "daytona": {
            COLD_CREATE: (timings.scaled(timings.create_s), timings.scaled(timings.create_s)),
            RESUME: (timings.scaled(timings.start_s), timings.scaled(timings.start_s)),
        },
        # Our suspend stops the sprite's Service and resume starts it: the sprite itself stays
        # up, so only its own hibernation has a published figure.
        "fly_sprites": {
            COLD_CREATE: None,
            RESUME: None,
            WARM_WAKE: (sprites.warm_wake_s[0] / args.speed, sprites.warm_wake_s[1] / args.speed),
            COLD_WAKE: (sprites.cold_wake_s[0] / args.speed, sprites.cold_wake_s[1] / args.speed),
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
    world = fly_sprites.World(root=root / "fly_sprites", token=TOKEN, timings=sprites)
    running = fly_sprites.start(world)
    try:
        provider = FlySpritesProvider(token=TOKEN, base_url=running.url)
        results["fly_sprites"] = measure(provider, args.rounds)
        results["fly_sprites"] |= measure_wakes(provider, running, args.rounds, args.speed)
    finally:
        running.stop()

    table = Table(title=f"providers side by side (echo runtime, emulator speed {args.speed:g})")
    for column in ("provider", "measure", "n", "p50", "p50 / request", "emulated figure"):
        table.add_column(column, justify="left" if column in ("provider", "measure") else "right")
    report: dict[str, object] = {}
    for name, measured in results.items():
        baseline = statistics.median(measured["request"])
        for measure_name, figure in published[name].items():
            values = measured[measure_name]
            p50 = statistics.median(values)
            report[f"{name}: {measure_name}"] = {
                "n": len(values),
                "p50_ms": p50 * 1000,
                "ratio_to_request": p50 / baseline,
                "emulated_figure_ms": None if figure is None else [f * 1000 for f in figure],
            }
            table.add_row(
                name,
                measure_name,
                str(len(values)),
                f"{p50 * 1000:.1f} ms",
                f"{p50 / baseline:.1f}x",
                ms(figure),
            )
    console.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    console.print(f"[dim]wrote {args.json}[/]")


if __name__ == "__main__":
    main()
