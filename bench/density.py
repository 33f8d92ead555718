"""Suspended Hermes sessions per GiB on ``local``, with the resume beside it, in one run.

N real Hermes sessions (local provider, model stand-in) each take one turn and are suspended
(frozen), twice: as they are, and with ``swap_frozen`` on (the frozen tree's memory squeezed
out to the host's swap). For each: the resident memory of a frozen session (its cgroup's
usage), what its pages cost in compressed swap (the zram device's own accounting), sessions
per GiB of RAM from the two, the resume (thaw until the runtime answers) and the first turn
after it, which faults back what Hermes touches.

With no swap on the host and ``--zram SIZE`` (the default, as root), the benchmark sets up
``/dev/zram0`` as swap for the run and takes it down after; ``--zram ''`` leaves the host as
it is (the squeezed row then says there was no swap).

    .venv/bin/python bench/density.py [--sessions 4] [--zram 2G] [--json PATH]

Goal (printed, never asserted): ≥ 20 suspended sessions per GiB (7.6 measured without),
keeping the resume in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.table import Table

from _shared import console, images_dir, ms, p50, verdict, write_report
from computerouter.agents.factory import agent_router_for
from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.events import RunCompleted
from computerouter.domain.values import SessionKey
from computerouter.providers.local.host import swap_configured
from computerouter.standin import StandinModel

MIB = 1024 * 1024
ZRAM = Path("/sys/block/zram0")


def _zram_used() -> int:
    """Bytes of RAM the zram devices use for what they hold (``mm_stat`` field 3)."""
    total = 0
    for stat in Path("/sys/block").glob("zram*/mm_stat"):
        fields = stat.read_text().split()
        if len(fields) >= 3:
            total += int(fields[2])
    return total


@contextmanager
def zram_swap(size: str) -> Iterator[str]:
    """Swap on /dev/zram0 for the block when the host has none (root, zram present and
    unused); yields what the host's swap is."""
    if swap_configured():
        yield "the host's own swap"
        return
    usable = size and os.geteuid() == 0 and ZRAM.is_dir()
    if not usable or (ZRAM / "disksize").read_text().strip() != "0":
        yield "none"
        return
    (ZRAM / "comp_algorithm").write_text("lz4")
    (ZRAM / "disksize").write_text(size)
    try:
        subprocess.run(["mkswap", "/dev/zram0"], check=True, capture_output=True)
        subprocess.run(["swapon", "-p", "100", "/dev/zram0"], check=True, capture_output=True)
        yield f"zram {size} (lz4), set up for this run"
    finally:
        subprocess.run(["swapoff", "/dev/zram0"], check=False, capture_output=True)
        (ZRAM / "reset").write_text("1")


def measure(squeeze: bool, sessions: int, model: StandinModel) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="cr-bench-density-"))
    env = {"COMPUTEROUTER_LOCAL_SWAP_FROZEN": "true" if squeeze else "false"}
    settings = Settings.load(
        env=env,
        home=home,
        images_dir=images_dir(),
        model_base_url=model.base_url,
        billing=False,
        lifecycle_daemon=False,
    )
    agents = agent_router_for(open_router(settings))
    compute = agents.compute
    provider = compute.provider("local")
    addresses = [AgentAddress(sandbox_id=f"dense{i}", slug="agent") for i in range(sessions)]
    for address in addresses:
        agents.create_agent(
            user_id="bench",
            address=address,
            settings=ModelSettings(compute_provider="local"),
            prompt="You are a benchmark agent.",
        )

    def turn(address: AgentAddress) -> float:
        started = time.perf_counter()
        events = list(agents.run(user_id="bench", address=address, text="hello").events())
        assert isinstance(events[-1], RunCompleted), events[-1]
        return time.perf_counter() - started

    try:
        for address in addresses:
            turn(address)
        keys = [SessionKey(user_id="bench", sandbox_id=a.sandbox_id) for a in addresses]
        live = [compute.store.sessions.find_live(k) for k in keys]
        zram_before = _zram_used()
        resident = []
        for session in live:
            assert session is not None and session.instance_id is not None
            compute.suspend(session.id, reason="benchmark")
        time.sleep(1.0)  # let the kernel settle what it swapped
        for session in live:
            assert session is not None and session.instance_id is not None
            resident.append(provider.usage(session.instance_id).memory_bytes)
        swapped = max(0, _zram_used() - zram_before) / sessions
        resumes, first_turns = [], []
        for key, address in zip(keys, addresses, strict=True):
            started = time.perf_counter()
            compute.ensure_session(key)
            resumes.append(time.perf_counter() - started)
            first_turns.append(turn(address))
    finally:
        for session in compute.store.sessions.list():
            if session.state.value not in ("destroyed", "failed"):
                compute.destroy(session.id)
        compute.store.close()
    per_session = p50(resident) + swapped
    return {
        "resident_mib": p50(resident) / MIB,
        "compressed_swap_mib": swapped / MIB,
        "ram_per_session_mib": per_session / MIB,
        "sessions_per_gib": 1024 * MIB / per_session if per_session else 0.0,
        "resume_s": p50(resumes),
        "first_turn_after_resume_s": p50(first_turns),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--zram", default="2G", help="zram swap to set up if none ('': never)")
    parser.add_argument("--json", type=Path, default=Path("bench/results/density.json"))
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with StandinModel() as model, zram_swap(args.zram) as swap:
        with console.status("frozen sessions as they are…"):
            results["frozen"] = measure(False, args.sessions, model)
        with console.status("frozen sessions squeezed into swap…"):
            results["squeezed"] = measure(True, args.sessions, model)

    table = Table(
        title=f"suspended Hermes sessions on local ({args.sessions} each; swap: {swap})",
        title_justify="left",
    )
    for column in (
        "mode",
        "resident",
        "compressed swap",
        "RAM / session",
        "sessions / GiB",
        "resume p50",
        "1st turn after",
    ):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for mode, r in results.items():
        table.add_row(
            mode,
            f"{r['resident_mib']:.1f} MiB",
            f"{r['compressed_swap_mib']:.1f} MiB",
            f"{r['ram_per_session_mib']:.1f} MiB",
            f"{r['sessions_per_gib']:.1f}",
            ms(r["resume_s"]),
            ms(r["first_turn_after_resume_s"]),
        )
    console.print(table)
    best = results["squeezed"]["sessions_per_gib"]
    plain = results["frozen"]["sessions_per_gib"]
    ratio = best / plain if plain else 0.0
    shown = f"{best:.1f} per GiB, {ratio:.2f}x frozen"
    console.print(f"squeezed sessions per GiB — goal ≥ 20: {verdict(best >= 20, shown)} ({shown})")
    write_report(args.json, {"swap": swap, **results})


if __name__ == "__main__":
    main()
