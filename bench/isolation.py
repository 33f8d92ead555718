"""What a session's confinement costs, measured side by side in one run on the local provider.

Cold create (until the echo runtime answers) and a command run in the session
(``compute sessions exec``), each with the seccomp filter and without it, alternating so both
see the same machine noise. Both use the minimal filesystem view (it has no switch: the old,
wider view is gone). Goal (printed, never asserted): with / without ≤ 1.10 at p50 for cold
create.

    .venv/bin/python bench/isolation.py [--creates 12] [--json bench/results/isolation.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from computerouter.domain.values import Labels, Resources
from computerouter.providers.base import InstanceSpec
from computerouter.providers.local import LocalProvider, probe
from computerouter.runtimes.echo import EchoRuntime

console = Console()
GOAL = 1.10


def _spec() -> InstanceSpec:
    session_id = f"ses_{uuid.uuid4().hex[:20]}"
    return InstanceSpec(
        idempotency_key=session_id,
        labels=Labels(session_id=session_id, user_id="bench", sandbox_id="isolation"),
        resources=Resources(cpus=1.0, memory_mb=256, pids=64),
        launch=EchoRuntime().launch_spec(session_id=session_id),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=12)
    parser.add_argument("--json", type=Path, default=Path("bench/results/isolation.json"))
    args = parser.parse_args()
    host = probe()
    if host.seccomp_gap:
        console.print(f"[yellow]no seccomp here ({host.seccomp_gap}): both sides are unfiltered")
    root = Path(tempfile.mkdtemp(prefix="cr-bench-isolation-"))
    sides = {
        "with seccomp": LocalProvider(root=root / "with", host=host),
        "without": LocalProvider(
            root=root / "without", host=dataclasses.replace(host, seccomp_gap="bench: off")
        ),
    }
    create: dict[str, list[float]] = {name: [] for name in sides}
    execs: dict[str, list[float]] = {name: [] for name in sides}
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("cold creates", total=args.creates * len(sides))
            for _ in range(args.creates):
                for name, provider in sides.items():
                    started = time.perf_counter()
                    instance = provider.create(_spec())
                    create[name].append((time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    done = provider.exec(instance.instance_id, ["/bin/true"])
                    execs[name].append((time.perf_counter() - started) * 1000)
                    assert done.exit_code == 0, done.stderr
                    provider.destroy(instance.instance_id)
                    progress.advance(task)
    finally:
        for provider in sides.values():
            for instance in provider.list():
                provider.destroy(instance.instance_id)

    def p50(values: list[float]) -> float:
        return statistics.median(values)

    ratio = p50(create["with seccomp"]) / p50(create["without"])
    exec_ratio = p50(execs["with seccomp"]) / p50(execs["without"])
    table = Table(title="session confinement (local, echo runtime)", title_justify="left")
    for column in ("", "with seccomp p50 ms", "without p50 ms", "ratio", "goal"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row(
        "cold create",
        f"{p50(create['with seccomp']):.1f}",
        f"{p50(create['without']):.1f}",
        f"{ratio:.3f}",
        "met" if ratio <= GOAL else f"≤ {GOAL} (not met)",
    )
    table.add_row(
        "exec /bin/true",
        f"{p50(execs['with seccomp']):.1f}",
        f"{p50(execs['without']):.1f}",
        f"{exec_ratio:.3f}",
        "",
    )
    console.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "creates": args.creates,
                "seccomp": not host.seccomp_gap,
                "create_ms": create,
                "exec_ms": execs,
                "create_ratio_p50": ratio,
                "exec_ratio_p50": exec_ratio,
                "goal": GOAL,
                "met": ratio <= GOAL,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
