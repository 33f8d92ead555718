"""``compute pause|unpause|pauses`` from the command line: scopes, the audit trail, refusals
with exit 5, and bad input as one line (exit 2) that changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from computerouter.testing.environment import child_env


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_env()
    env.update(COMPUTEROUTER_HOME=str(home), COMPUTEROUTER_LIFECYCLE_DAEMON="false")
    return subprocess.run(
        [sys.executable, "-m", "computerouter", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_pause_is_audited_refuses_with_exit_5_and_unpause_lifts_it(tmp_path: Path) -> None:
    paused = cli(tmp_path, "compute", "pause", "--global", "--reason", "incident 7", "--json")
    assert paused.returncode == 0, paused.stderr
    assert json.loads(paused.stdout)["scope"] == "global"

    refused = cli(tmp_path, "compute", "sessions", "ensure", "--user", "u", "--sandbox", "s")
    assert refused.returncode == 5
    assert "the platform is paused: incident 7" in one_error_line(refused)
    listed = cli(tmp_path, "compute", "sessions", "list", "--all", "--json")
    assert json.loads(listed.stdout) == []

    shown = json.loads(cli(tmp_path, "compute", "pauses", "--json").stdout)
    assert [(p["scope"], p["mode"], p["reason"]) for p in shown] == [
        ("global", "drain", "incident 7")
    ]
    lifted = cli(tmp_path, "compute", "unpause", "--global", "--reason", "resolved")
    assert lifted.returncode == 0, lifted.stderr
    assert json.loads(cli(tmp_path, "compute", "pauses", "--json").stdout) == []
    history = json.loads(cli(tmp_path, "compute", "pauses", "--history", "--json").stdout)
    assert [(h["action"], h["reason"]) for h in history] == [
        ("pause", "incident 7"),
        ("unpause", "resolved"),
    ]
    assert all(h["actor"] for h in history)


@pytest.mark.parametrize(
    "args",
    [
        ("compute", "pause", "--reason", "no scope"),
        ("compute", "pause", "--global", "--user", "u", "--reason", "two scopes"),
        ("compute", "pause", "--provider", "nowhere", "--reason", "unknown provider"),
        ("compute", "pause", "--global", "--drain", "--now", "--reason", "both modes"),
        ("compute", "pause", "--global", "--reason", "  "),
        ("compute", "pause", "--user", "", "--reason", "empty user"),
        ("compute", "unpause", "--global", "--reason", "nothing paused"),
    ],
)
def test_bad_pause_input_is_one_line_and_changes_nothing(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = cli(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    one_error_line(result)
    history = cli(tmp_path, "compute", "pauses", "--history", "--json")
    assert json.loads(history.stdout) == []
