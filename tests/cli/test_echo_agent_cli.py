"""An agent on the echo test runtime from the command line: created with ``--backend echo``,
run on a real local session, its reply streamed back; a failure inside the runtime is one
error line; no model stand-in is started for it (the echo runtime calls no model)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import cli as run_cli

from computerouter.providers.local import probe

pytestmark = pytest.mark.isolation


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(home, *args, billing="false", lifecycle_daemon="false")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Repeat after me.")
    made = cli(
        tmp_path,
        *("agent", "create", "echo", "--user", "u", "--sandbox", "sb1", "--backend", "echo"),
        *("--compute-provider", "local", "--prompt-file", str(prompt)),
    )
    assert made.returncode == 0, made.stderr
    try:
        yield tmp_path
    finally:
        listed = cli(tmp_path, "compute", "sessions", "list", "--json")
        for session in json.loads(listed.stdout or "[]"):
            cli(tmp_path, "compute", "sessions", "destroy", session["id"])


def test_an_echo_agent_runs_from_the_command_line(home: Path) -> None:
    ran = cli(home, "run", "sb1/echo", "hello from the shell", "--user", "u")
    assert ran.returncode == 0, ran.stderr
    assert "echo: hello from the shell" in ran.stdout + ran.stderr
    out = cli(home, "run", "sb1/echo", "again", "--user", "u", "--json").stdout
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [e["delta"] for e in events if e["type"] == "message.delta"] == ["echo:", " again"]
    assert events[-1]["type"] == "run.completed"
    assert events[-1]["output"] == "echo: again"
    [started] = [e for e in events if e["type"] == "run.started"]
    assert (started["runtime"], started["provider"]) == ("echo", "local")
    assert not (home / "standin.log").exists(), "a model stand-in was started for echo"


def test_a_failure_inside_the_echo_runtime_is_one_error_line(home: Path) -> None:
    ran = cli(home, "run", "sb1/echo", "/fail 502 now", "--user", "u")
    assert ran.returncode == 1
    assert "Traceback" not in ran.stderr
    output = ran.stdout + ran.stderr
    [line] = [line for line in output.splitlines() if "HTTP 502" in line]
    assert line.endswith("the echo runtime answered HTTP 502: echo was asked to fail with HTTP 502")
