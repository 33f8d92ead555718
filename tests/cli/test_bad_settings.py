"""Bad settings (files, URLs, numbers) and what doctor says about a broken home: one line,
exit 2, nothing created."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bounded_cli import cli_env, measured_cli, one_error_line

NOT_UTF8 = b'user = "caf\xe9"\n'


@pytest.mark.parametrize("name", ["config.toml", "prices.toml"])
def test_settings_file_that_is_not_utf8(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(NOT_UTF8 if name == "config.toml" else b"[budget]\n# \xff\n")
    result = measured_cli(tmp_path, "credits", "show", "--user", "alice")
    assert result.returncode == 2, result.stderr[-1500:]
    line = one_error_line(result.stderr)
    assert name in line
    assert "is not UTF-8 text" in line


@pytest.mark.parametrize("name", ["config.toml", "prices.toml"])
def test_settings_file_that_is_endless_or_a_directory(tmp_path: Path, name: str) -> None:
    (tmp_path / name).symlink_to("/dev/zero")
    endless = measured_cli(tmp_path, "credits", "show", "--user", "alice")
    assert endless.returncode == 2
    assert "larger than the limit of 1 MiB" in one_error_line(endless.stderr)
    assert endless.peak_mb < 200
    (tmp_path / name).unlink()
    (tmp_path / name).mkdir()
    directory = measured_cli(tmp_path, "credits", "show", "--user", "alice")
    assert directory.returncode == 2
    assert "is a directory" in one_error_line(directory.stderr)


@pytest.mark.parametrize(
    ("where", "value", "setting"),
    [
        ("file", "idle_suspend_s = -5", "idle_suspend_s"),
        ("file", "archive_after_s = -1.0", "archive_after_s"),
        ("file", "idle_suspend_s = 0", "idle_suspend_s"),
        ("file", "archive_after_s = 60", "archive_after_s"),  # shorter than the 15 min default
        ("file", "idle_suspend_s = [1, 2]", "idle_suspend_s"),
        ("file", "turn_timeout_s = nan", "turn_timeout_s"),
        ("file", "lease_s = inf", "lease_s"),
        ("env", "COMPUTEROUTER_IDLE_SUSPEND_S=-900", "idle_suspend_s"),
        ("env", "COMPUTEROUTER_WAIT_TIMEOUT_S=-1", "wait_timeout_s"),
        ("env", "COMPUTEROUTER_STANDIN_PORT=70000", "standin_port"),
        ("env", "COMPUTEROUTER_GATEWAY_LISTEN=ftp://127.0.0.1:1", "gateway_listen"),
        ("file", 'gateway_public_url = "https://router:notaport"', "gateway_public_url"),
        ("env", "COMPUTEROUTER_API_WORKERS=0", "api_workers"),
        ("file", "api_workers = 65", "api_workers"),
        ("env", "COMPUTEROUTER_API_CORS_ORIGINS=app.example", "api_cors_origins"),
    ],
)
def test_out_of_range_settings_are_refused(
    tmp_path: Path, where: str, value: str, setting: str
) -> None:
    env = cli_env(tmp_path)
    if where == "file":
        (tmp_path / "config.toml").write_text(value + "\n")
    else:
        name, _, raw = value.partition("=")
        env[name] = raw
    result = measured_cli(tmp_path, "compute", "sessions", "list", env=env)
    assert result.returncode == 2, result.stderr[-1500:]
    assert setting in one_error_line(result.stderr)
    assert not (tmp_path / "computerouter.db").exists()


def test_postgres_url_without_a_database_is_refused(tmp_path: Path) -> None:
    # Either would let libpq pick a database named after the user and migrate it.
    for url in ("postgresql://", "postgresql://nobody@127.0.0.1:1"):
        env = cli_env(tmp_path, COMPUTEROUTER_DATABASE_URL=url)
        result = measured_cli(tmp_path, "compute", "sessions", "list", env=env)
        assert result.returncode == 2, result.stderr[-1500:]
        assert "must name a database" in one_error_line(result.stderr)
    assert not (tmp_path / "computerouter.db").exists()


def test_sqlite_url_in_a_missing_directory_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "nonexistent" / "dir" / "x.db"
    env = cli_env(tmp_path / "home", COMPUTEROUTER_DATABASE_URL=f"sqlite:///{target}")
    result = measured_cli(tmp_path / "home", "compute", "sessions", "list", env=env)
    assert result.returncode == 2, result.stderr[-1500:]
    assert "does not exist" in one_error_line(result.stderr)
    assert not (tmp_path / "nonexistent").exists()


def test_sqlite_url_naming_a_directory(tmp_path: Path) -> None:
    env = cli_env(tmp_path, COMPUTEROUTER_DATABASE_URL=f"sqlite:///{tmp_path}")
    result = measured_cli(tmp_path, "compute", "sessions", "list", env=env)
    assert result.returncode == 2
    assert "is a directory" in one_error_line(result.stderr)


# -- doctor -----------------------------------------------------------------------------------


def doctor_row(stdout: str, check: str) -> str:
    rows = [line for line in stdout.splitlines() if line.strip("│ ").startswith(check)]
    assert rows, stdout
    return rows[0]


def test_doctor_on_a_read_only_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(home)
    cmd = [sys.executable, "-m", "computerouter", "doctor"]
    if os.geteuid() == 0:
        # Permission bits do not stop root: make the home a read-only mount instead.
        if shutil.which("unshare") is None:
            pytest.skip("needs unshare(1) to mount the home read-only as root")
        script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
        cmd = ["unshare", "-m", "sh", "-c", script, "sh", str(home), *cmd]
    else:
        home.chmod(0o555)
    try:
        result = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=60, check=False
        )
    finally:
        home.chmod(0o755)
    assert "Traceback" not in result.stderr
    row = doctor_row(result.stdout, "data directory")
    assert "ok" not in row.split("│")[2], row
    assert "not writable" in row
    assert result.returncode == 1
    assert list(home.iterdir()) == []


def test_doctor_on_a_store_file_that_is_not_sqlite(tmp_path: Path) -> None:
    store = tmp_path / "computerouter.db"
    store.write_bytes(b"these are my notes, not a database\n")
    result = measured_cli(tmp_path, "doctor")
    row = doctor_row(result.stdout, "store")
    assert "missing" not in row
    assert "is not a SQLite database" in row
    assert result.returncode == 1
    assert store.read_bytes() == b"these are my notes, not a database\n"


def test_doctor_on_a_healthy_home_says_ok(tmp_path: Path) -> None:
    result = measured_cli(tmp_path, "doctor")
    assert "ok" in doctor_row(result.stdout, "data directory").split("│")[2]
    assert "ok" in doctor_row(result.stdout, "store").split("│")[2]
