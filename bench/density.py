"""Suspended Hermes sessions per GiB on ``local``, with the resume beside it, in one run.

N real Hermes sessions (local provider, model stand-in) each take one turn and are suspended
(frozen), four times: as they are; with ``swap_frozen`` on (the frozen tree's memory squeezed
out to the host's swap); with ``merge_pages`` on (the sessions' identical pages shared by the
kernel's same-page merging, KSM); and with both. For each: the resident memory of a frozen
session (the mean of their cgroups' usage: a merged page is charged to one of them), what its
pages cost in compressed swap (the zram device's own accounting), sessions per GiB of RAM from
the two, the resume (thaw until the runtime answers) and the first turn after it, which faults
back what Hermes touches (and copies what it writes of a merged page).

KSM is a host-wide knob: when it is off and the benchmark runs as root, it is turned on for the
merged rows (scanning fast, so a run does not wait minutes) and put back as it was after, every
page unmerged; the merged rows wait for two full scans after the suspend.

With no swap on the host and ``--zram SIZE`` (the default, as root), the benchmark sets up
``/dev/zram0`` as swap for the run and takes it down after; ``--zram ''`` leaves the host as
it is (the squeezed row then says there was no swap).

    .venv/bin/python bench/density.py [--sessions 4] [--zram 2G] [--no-merge] [--json PATH]

Goal (printed, never asserted): ≥ 20 suspended sessions per GiB (7.6 measured without),
keeping the resume in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
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
KSM = Path("/sys/kernel/mm/ksm")
KSM_FAST = {"pages_to_scan": "5000", "sleep_millisecs": "20"}


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


@contextmanager
def ksm_on() -> Iterator[str]:
    """The kernel's same-page merging running for the block; yields what it is."""
    if not (KSM / "run").exists():
        yield "none (this kernel has no KSM)"
        return
    if (KSM / "run").read_text().strip() == "1":
        yield "the host's own KSM"
        return
    if os.geteuid() != 0:
        yield "off (not root)"
        return
    before = {name: (KSM / name).read_text().strip() for name in KSM_FAST}
    for name, value in KSM_FAST.items():
        (KSM / name).write_text(value)
    (KSM / "run").write_text("1")
    try:
        yield "KSM turned on for this run"
    finally:
        (KSM / "run").write_text("2")  # unmerge every page, then stop
        (KSM / "run").write_text("0")
        for name, value in before.items():
            (KSM / name).write_text(value)


def _ksm_settled(timeout_s: float = 120.0) -> None:
    """Wait for two full KSM scans: every page seen twice is merged if it can be."""
    scans = KSM / "full_scans"
    if not scans.exists() or (KSM / "run").read_text().strip() != "1":
        return
    target = int(scans.read_text()) + 2
    deadline = time.monotonic() + timeout_s
    while int(scans.read_text()) < target and time.monotonic() < deadline:
        time.sleep(0.2)


def measure(squeeze: bool, merge: bool, sessions: int, model: StandinModel) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="cr-bench-density-"))
    env = {
        "COMPUTEROUTER_LOCAL_SWAP_FROZEN": "true" if squeeze else "false",
        "COMPUTEROUTER_LOCAL_MERGE_PAGES": "true" if merge else "false",
    }
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
        if merge:
            _ksm_settled()
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
    held = sum(resident) / len(resident)
    per_session = held + swapped
    return {
        "resident_mib": held / MIB,
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
    parser.add_argument("--no-merge", action="store_true", help="leave out the merged rows")
    parser.add_argument("--json", type=Path, default=Path("bench/results/density.json"))
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    modes = [("frozen", False, False), ("squeezed", True, False)]
    if not args.no_merge:
        modes += [("merged", False, True), ("merged + squeezed", True, True)]
    with StandinModel() as model, zram_swap(args.zram) as swap:
        ksm = "not measured"
        for mode, squeeze, merge in modes:
            with contextlib.ExitStack() as stack:
                if merge:
                    ksm = stack.enter_context(ksm_on())
                with console.status(f"frozen sessions, {mode}…"):
                    results[mode] = measure(squeeze, merge, args.sessions, model)

    table = Table(
        title=f"suspended Hermes sessions on local ({args.sessions} each; swap: {swap}; "
        f"KSM: {ksm})",
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
    plain = results["frozen"]["sessions_per_gib"]
    for mode in results:
        if mode == "frozen":
            continue
        best = results[mode]["sessions_per_gib"]
        ratio = best / plain if plain else 0.0
        shown = f"{best:.1f} per GiB, {ratio:.2f}x frozen"
        console.print(f"{mode}: sessions per GiB — goal ≥ 20: {verdict(best >= 20)} ({shown})")
    write_report(args.json, {"swap": swap, "ksm": ksm, **results})


if __name__ == "__main__":
    main()
