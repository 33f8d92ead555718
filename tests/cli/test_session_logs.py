"""``computerouter compute sessions logs ID [--follow] [--lines N]`` on real local sessions."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import cli

from computerouter.providers.local import probe
from computerouter.testing.environment import child_env

pytestmark = pytest.mark.isolation


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    made = cli(
        tmp_path,
        *("compute", "sessions", "ensure", "--user", "u", "--sandbox", "s"),
        *("--runtime", "echo", "--json"),
    )
    assert made.returncode == 0, made.stderr
    session_id = json.loads(made.stdout)["id"]
    try:
        yield tmp_path, session_id
    finally:
        cli(tmp_path, "compute", "sessions", "destroy", session_id)


def test_logs_print_the_session_output(session: tuple[Path, str]) -> None:
    home, session_id = session
    result = cli(home, "compute", "sessions", "logs", session_id)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("session | echo runtime listening on ")
    assert cli(home, "compute", "sessions", "logs", session_id, "--lines", "0").stdout == ""


def test_follow_streams_until_ctrl_c(session: tuple[Path, str]) -> None:
    home, session_id = session
    env = child_env()
    env["COMPUTEROUTER_HOME"] = str(home)
    follow = subprocess.Popen(
        [sys.executable, "-m", "computerouter", "compute", "sessions", "logs", session_id, "-f"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout is not None
        first = follow.stdout.readline()
        assert first.startswith("session | echo runtime listening"), first
        time.sleep(0.5)
        assert follow.poll() is None, "--follow must keep running"
        follow.send_signal(signal.SIGINT)
        _, err = follow.communicate(timeout=20)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert follow.returncode == 0, err
    assert "Traceback" not in err


def test_an_archived_session_says_where_its_logs_are(session: tuple[Path, str]) -> None:
    home, session_id = session
    archived = cli(home, "compute", "sessions", "archive", session_id)
    assert archived.returncode == 0, archived.stderr
    result = cli(home, "compute", "sessions", "logs", session_id)
    assert result.returncode == 4
    line = one_error_line(result)
    assert f"session {session_id} is archived: its logs are in its archive" in line
    assert str(home / "local" / "archives") in line
    assert result.stdout == ""


def test_destroyed_and_unknown_sessions(session: tuple[Path, str]) -> None:
    home, session_id = session
    assert cli(home, "compute", "sessions", "destroy", session_id).returncode == 0
    gone = cli(home, "compute", "sessions", "logs", session_id)
    assert gone.returncode == 4
    assert "destroyed" in one_error_line(gone)
    unknown = cli(home, "compute", "sessions", "logs", "ses_nosuchsession")
    assert unknown.returncode == 3
    one_error_line(unknown)
    negative = cli(home, "compute", "sessions", "logs", "ses_nosuchsession", "--lines", "-1")
    assert negative.returncode == 2
    assert "--lines" in one_error_line(negative)
