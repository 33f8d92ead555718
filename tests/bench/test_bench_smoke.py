"""Every benchmark runs in the suite at a tiny size, so none can rot: it must finish and write
its report. Timings are never asserted here; ``make bench`` measures them side by side."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from computerouter.providers.local import probe
from computerouter.testing.environment import child_env

ROOT = Path(__file__).resolve().parents[2]

# Each script with the smallest arguments that still exercise every path it measures.
SMOKE = {
    "lifecycle.py": ["--rounds", "2", "--creates", "1"],
    "ensure.py": ["--calls", "20"],
    "ledger.py": ["--writes", "16", "--runs", "8"],
    "turns.py": ["--turns", "1", "--restores", "1"],
    "pool.py": ["--rounds", "1", "--turns", "1"],
    "isolation.py": ["--creates", "1"],
    "providers.py": ["--rounds", "1", "--speed", "100"],
    "gateway.py": ["--calls", "3"],
    "remote_gateway.py": ["--calls", "3"],
    "density.py": ["--sessions", "1", "--zram", ""],
    "api.py": [
        *("--rounds", "1", "--stream-turns", "2", "--stream-concurrency", "2"),
        *("--fast-turns", "16", "--fast-concurrency", "2"),
        *("--requests", "4", "--concurrency", "2"),
    ],
}
NEEDS_ISOLATION = {
    "density.py",
    "lifecycle.py",
    "turns.py",
    "pool.py",
    "isolation.py",
    "providers.py",
    "api.py",
}
# LiteLLM is measured only where `make bench` has made its venv (scripts/litellm-venv).
LITELLM = ROOT / ".venv-litellm" / "bin" / "litellm"
PROVIDER_ROWS = [
    "local: cold create → 200",
    "local: resume → 200",
    "daytona: cold create → 200",
    "daytona: resume → 200",
    "fly_sprites: cold create → 200",
    "fly_sprites: resume → 200",
    "fly_sprites: warm wake → 200",
    "fly_sprites: cold wake → 200",
]
API_ROWS = [
    "router ensure, cold (new session)",
    "(a) Hermes, unix socket, c=1",
    "(a) Hermes, TCP relay, c=1",
    "(b) router, c=1",
    "(c) LiteLLM → relay → Hermes, c=1",
    "(a) Hermes streaming, c=2",
    "(b) router streaming, c=2",
    "(c) LiteLLM streaming, c=2",
    "(e) router → echo streaming, c=2",
    "(f) LiteLLM → relay → echo streaming, c=2",
    "(g) echo streaming, c=2",
    "(g) echo, TCP relay streaming, c=2",
    "router GET /v1/models, c=1",
    "router GET /v1/models, c=2",
    "router ensure, warm, c=1",
    "router ensure, warm, c=2",
    "empty ASGI app (harness ceiling), c=1",
    "empty ASGI app (harness ceiling), c=2",
]


def test_every_benchmark_has_a_smoke_run() -> None:
    # Modules named _* are helpers the benchmarks share, not benchmarks.
    scripts = {p.name for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_")}
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
    env = child_env()
    env["COMPUTEROUTER_LIFECYCLE_DAEMON"] = "false"
    extra = ["--litellm", str(LITELLM)] if script == "api.py" and LITELLM.exists() else []
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / script),
            *SMOKE[script],
            *extra,
            "--json",
            str(report),
        ],
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
    if script == "api.py":
        assert_every_api_row(data, with_litellm=bool(extra))
    if script == "providers.py":
        assert_every_provider_row(data)


def assert_every_provider_row(data: dict[str, Any]) -> None:
    """Every provider in the one run, each row measured, each against the emulated figure."""
    assert list(data) == PROVIDER_ROWS
    for name, row in data.items():
        assert row["n"] > 0, name
        emulated = name.startswith("daytona") or "wake" in name
        assert (row["emulated_figure_ms"] is not None) is emulated, name


def assert_every_api_row(data: dict[str, Any], *, with_litellm: bool) -> None:
    rows = data["rows"]
    assert [row["name"] for row in rows] == API_ROWS
    for row in rows:
        if row["name"].startswith(("(c)", "(f)")) and not with_litellm:
            assert not row["measured"]
            assert row["note"] == "not measured (no LiteLLM)"
        else:
            assert row["measured"], row["name"]
            assert row["requests"] == len(row["latencies_s"]) > 0
    assert data["litellm"] is with_litellm
    assert data["workers"] == 2  # serve's default in the benchmark
    # The dependencies uvicorn picks by itself, for serve and the empty app alike.
    assert (data["loop"], data["http"]) == ("uvloop", "httptools")
    expected = {
        "router_over_hermes_p50",
        "router_added_ms_p50",
        "warm_ensure_rps",
        "router_over_echo_rps_streaming",
    }
    if with_litellm:
        expected |= {
            "litellm_added_ms_p50",
            "router_over_litellm_rps_streaming",
            "router_over_litellm_rps_streaming_hermes",
        }
    assert set(data["goals"]) == expected
