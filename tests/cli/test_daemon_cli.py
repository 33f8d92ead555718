"""``computerouter daemon ...`` and the on-demand start, as an operator sees them.

A daemon needs a session that needs the lifecycle. Here that is a session mid-operation whose
owner (this test process) is alive with a long lease: every pass leaves it alone, so the daemon
stays up for as long as the test wants, with no provider involved.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from computerouter.compute.daemon_files import DaemonFiles
from computerouter.compute.owner import current_owner
from computerouter.store import open_store
from computerouter.testing import session_record
from computerouter.testing.daemons import daemon_pids, stop_daemons
from computerouter.testing.environment import child_env

PID = re.compile(r"\(pid (\d+)")


def env_for(home: Path, **settings: str) -> dict[str, str]:
    env = child_env()
    env["COMPUTEROUTER_HOME"] = str(home)
    env["COMPUTEROUTER_LIFECYCLE_INTERVAL_S"] = "0.3"
    env["COLUMNS"] = "250"
    env.update({f"COMPUTEROUTER_{k.upper()}": v for k, v in settings.items()})
    return env


def cli(home: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "computerouter", *args],
        capture_output=True,
        text=True,
        env=env_for(home, **settings),
        timeout=90,
        check=False,
    )


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def wait_for(what: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not what():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return not stat[stat.rfind(")") + 2 :].startswith("Z")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A home whose one session is mid-operation, held by this (live) process."""
    home = tmp_path / "home"
    home.mkdir()
    store = open_store(f"sqlite:///{home / 'computerouter.db'}")
    now = time.time()
    store.sessions.insert_provisioning(
        session_record(
            at=now,
            user_id="alice",
            sandbox_id="sb",
            provider="local",
            runtime="echo",
            owner=current_owner(),
            lease_expires_at=now + 3600,
        )
    )
    store.close()
    yield home
    assert stop_daemons(home) == [], "a lifecycle daemon outlived its test"


def test_concurrent_starts_run_exactly_one_daemon(home: Path) -> None:
    starters = [
        subprocess.Popen(
            [sys.executable, "-m", "computerouter", "daemon", "start"],
            env=env_for(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [p.communicate(timeout=90) for p in starters]
    assert [p.returncode for p in starters] == [0] * 6, outputs
    reported = {int(m.group(1)) for out, _ in outputs if (m := PID.search(one_line(out)))}
    assert len(reported) == 1, outputs
    [pid] = reported
    # Losers give up within a couple of seconds; the one that won is the one they all named.
    assert wait_for(lambda: daemon_pids(home) == [pid], timeout_s=20), daemon_pids(home)
    log = DaemonFiles.of(home).log.read_text()
    assert log.count("lifecycle daemon started") == 1, log
    time.sleep(1.0)  # several passes later it still serves, alone
    assert daemon_pids(home) == [pid]


def test_status_and_stop_print_one_clear_line_each(home: Path) -> None:
    missing = cli(home, "daemon", "status")
    assert missing.returncode == 3
    assert one_line(missing.stdout) == f"lifecycle daemon not running for {home}"
    started = cli(home, "daemon", "start")
    assert started.returncode == 0, started.stderr
    assert one_line(started.stdout).startswith("lifecycle daemon started (pid ")
    match = PID.search(started.stdout)
    assert match is not None
    pid = int(match.group(1))

    running = cli(home, "daemon", "status")
    assert running.returncode == 0, running.stderr
    line = one_line(running.stdout)
    assert line.startswith(f"lifecycle daemon running (pid {pid}, since ")
    assert wait_for(lambda: "last pass" in cli(home, "daemon", "status").stdout)
    assert "ok (nothing to do)" in cli(home, "daemon", "status").stdout

    again = cli(home, "daemon", "start")
    assert one_line(again.stdout) == f"lifecycle daemon already running (pid {pid}) for {home}"

    stopped = cli(home, "daemon", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert one_line(stopped.stdout) == f"stopped the lifecycle daemon (pid {pid}) for {home}"
    assert stopped.stderr == ""
    assert not alive(pid)
    assert daemon_pids(home) == []

    after = cli(home, "daemon", "status")
    assert after.returncode == 3
    assert "not running" in one_line(after.stdout)
    assert "(asked to stop)" in after.stdout

    idle = cli(home, "daemon", "stop")
    assert idle.returncode == 0
    assert one_line(idle.stdout) == f"no lifecycle daemon was running for {home}"
    assert daemon_pids(home) == []  # neither status nor stop starts one


def test_doctor_shows_the_daemon(home: Path) -> None:
    before = cli(home, "doctor")
    [row] = [line for line in before.stdout.splitlines() if "lifecycle daemon" in line]
    assert "warn" in row
    assert "not running while sessions are live" in row

    cli(home, "daemon", "start")
    during = cli(home, "doctor")
    [row] = [line for line in during.stdout.splitlines() if "lifecycle daemon" in line]
    assert "ok" in row
    assert "running (pid " in row
    assert daemon_pids(home) != []


def test_a_command_that_leaves_a_session_live_starts_it_on_demand_detached(home: Path) -> None:
    started = time.monotonic()
    reaped = cli(home, "compute", "reap", "--json")  # its pipes are read to the end
    assert reaped.returncode == 0, reaped.stderr
    assert time.monotonic() - started < 60  # returned while the daemon runs on
    assert wait_for(lambda: len(daemon_pids(home)) == 1)
    [pid] = daemon_pids(home)
    # Detached: its own session, stdin from /dev/null, stdout and stderr into its log only.
    assert os.getsid(pid) == pid
    fds = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    log = str(DaemonFiles.of(home).log)
    assert fds[0] == os.devnull
    assert fds[1] == log
    assert fds[2] == log
    assert not [target for target in fds.values() if target.startswith("pipe:")], fds
    assert os.readlink(f"/proc/{pid}/cwd") == "/"


def test_after_a_kill_9_the_next_start_takes_over(home: Path) -> None:
    first = cli(home, "daemon", "start")
    assert first.returncode == 0, first.stderr
    [pid] = daemon_pids(home)
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not alive(pid))
    # The kernel dropped its lock; its pid file is stale and is not believed.
    status = cli(home, "daemon", "status")
    assert status.returncode == 3
    assert "not running" in status.stdout
    second = cli(home, "daemon", "start")
    assert second.returncode == 0, second.stderr
    assert one_line(second.stdout).startswith("lifecycle daemon started (pid ")
    [new_pid] = daemon_pids(home)
    assert new_pid != pid
    assert f"(pid {new_pid})" in second.stdout


def test_the_on_demand_start_can_be_turned_off(home: Path) -> None:
    reaped = cli(home, "compute", "reap", "--json", lifecycle_daemon="false")
    assert reaped.returncode == 0, reaped.stderr
    time.sleep(2.0)
    assert daemon_pids(home) == []
    doctor = cli(home, "doctor", lifecycle_daemon="false")
    assert "lifecycle_daemon is off" in doctor.stdout


def test_nothing_live_starts_nothing(tmp_path: Path) -> None:
    reaped = cli(tmp_path, "compute", "reap")
    assert reaped.returncode == 0, reaped.stderr
    started = cli(tmp_path, "daemon", "start")
    assert started.returncode == 0
    assert one_line(started.stdout) == "no session needs the lifecycle; the daemon was not started"
    time.sleep(1.0)
    assert daemon_pids(tmp_path) == []
    assert not DaemonFiles.of(tmp_path).dir.exists()


def test_it_exits_by_itself_when_its_home_is_deleted(home: Path) -> None:
    started = cli(home, "daemon", "start")
    assert started.returncode == 0, started.stderr
    [pid] = daemon_pids(home)
    shutil.rmtree(home)
    assert wait_for(lambda: not alive(pid), timeout_s=10)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "lifecycle_interval_s must be more than zero"),
        ("soon", "setting lifecycle_interval_s from environment is not a valid float"),
    ],
)
def test_a_bad_interval_is_one_line(home: Path, value: str, message: str) -> None:
    result = cli(home, "daemon", "start", lifecycle_interval_s=value)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith("error: ")
    assert message in line
    assert "Traceback" not in result.stderr
    assert daemon_pids(home) == []
