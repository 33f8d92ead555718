"""Every benchmark runs in the suite at a tiny size, so none can rot: it must finish and write
its report. Timings are never asserted here; ``make bench`` measures them side by side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from computerouter.providers.local import probe

ROOT = Path(__file__).resolve().parents[2]

# Each script with the smallest arguments that still exercise every path it measures.
SMOKE = {
    "lifecycle.py": ["--rounds", "2", "--creates", "1"],
    "ensure.py": ["--calls", "20"],
    "ledger.py": ["--writes", "16", "--runs", "8"],
    "turns.py": ["--turns", "1"],
    "isolation.py": ["--creates", "1"],
    "providers.py": ["--rounds", "1", "--speed", "100"],
}
NEEDS_ISOLATION = {"lifecycle.py", "turns.py", "isolation.py", "providers.py"}


def test_every_benchmark_has_a_smoke_run() -> None:
    scripts = {p.name for p in (ROOT / "bench").glob("*.py")}
    assert scripts == set(SMOKE), "add the new benchmark's smoke arguments to SMOKE"


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("script", sorted(SMOKE))
def test_benchmark_runs_and_reports(script: str, tmp_path: Path) -> None:
    if script in NEEDS_ISOLATION:
        gaps = probe().gaps()
        if gaps:
            pytest.skip(f"{script} needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPUTEROUTER_")}
    env["COMPUTEROUTER_LIFECYCLE_DAEMON"] = "false"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *SMOKE[script], "--json", str(report)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=850,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    data = json.loads(report.read_text())
    assert data, f"{script} wrote an empty report"
