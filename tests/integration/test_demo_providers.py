"""Acceptance (zero-setup demo on every provider): ``computerouter demo`` runs the same flow on
``local`` and, through an emulator it starts itself, on ``daytona`` and ``fly_sprites``: two
turns that remember each other, a suspended session resumed, an archived one restored, two
ledger rows per run, nothing left running. Bad input is one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from computerouter.providers.local import probe
from computerouter.testing.environment import child_env

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]

IMAGES = Path(os.environ.get("COMPUTEROUTER_TEST_IMAGES", "/var/cache/computerouter-images"))


def demo(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_env()
    env |= {
        "COMPUTEROUTER_HOME": str(home),
        "COMPUTEROUTER_IMAGES_DIR": str(IMAGES),
        "COMPUTEROUTER_LIFECYCLE_DAEMON": "false",
        "COLUMNS": "160",
    }
    return subprocess.run(
        [sys.executable, "-m", "computerouter", "demo", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=800,
        check=False,
    )


@pytest.mark.parametrize("provider", ["local", "daytona", "fly_sprites"])
def test_the_demo_flow_on_each_provider(provider: str, tmp_path: Path) -> None:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"the demo needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    done = demo(tmp_path / "home", "--provider", provider)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert f"provider {provider}" in out
    assert out.count("I remember: Ada; the launch code is blue-42") == 2  # turn 2, after restore
    for how in ("session created", "session resumed", "session restored"):
        assert how in out, how
    assert "two entries per run" in out
    assert "destroyed" in out
    listed = subprocess.run(
        [sys.executable, "-m", "computerouter", "compute", "sessions", "list"],
        env={**os.environ, "COMPUTEROUTER_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "running" not in listed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "aws"], "error: unknown demo provider 'aws'"),
        (["--provider", "daytona", "--keep"], "error: --keep needs a provider that outlives"),
    ],
)
def test_bad_demo_input_is_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    done = demo(tmp_path / "home", *args)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(message)
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "home" / "emulators").exists()
