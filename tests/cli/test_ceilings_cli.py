"""Run and uptime ceilings on the command line: per agent (``agent create/update --max-run``)
and per sandbox (``compute sandboxes set --max-run/--max-uptime``); a ceiling that is zero,
negative or not a number is refused with one line, exit 2, nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from bounded_cli import inprocess_cli, one_error_line
from cli_support import cli

from computerouter.domain.agents import AgentAddress
from computerouter.domain.session import SandboxSettings
from computerouter.domain.values import SessionKey
from computerouter.store import open_store
from computerouter.store.agents import AgentStore

BAD = ["0", "0s", "-5", "abc", "nan", "inf", "", "99999999999d"]
KEY = SessionKey(user_id="u", sandbox_id="s")


@pytest.fixture
def prompt(tmp_path: Path) -> Path:
    path = tmp_path / "prompt.md"
    path.write_text("You are a test agent.\n")
    return path


def agent_max_run(home: Path, address: str = "sb/support") -> float | None:
    store = open_store(f"sqlite:///{home / 'computerouter.db'}")
    try:
        sandbox, _, slug = address.partition("/")
        agent = AgentStore(store.engine).get("local", AgentAddress(sandbox_id=sandbox, slug=slug))
        return agent.settings.max_run_s
    finally:
        store.close()


def sandbox_settings(home: Path) -> SandboxSettings:
    store = open_store(f"sqlite:///{home / 'computerouter.db'}")
    try:
        return store.sandboxes.get(KEY)
    finally:
        store.close()


def test_agent_max_run_is_stored_shown_and_updated(tmp_path: Path, prompt: Path) -> None:
    created = cli(tmp_path, "agent", "create", "sb/support", "--prompt-file",
                  str(prompt), "--max-run", "90s", "--json")  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert '"max_run_s": 90.0' in created.stdout
    assert agent_max_run(tmp_path) == 90.0
    updated = cli(tmp_path, "agent", "update", "sb/support", "--max-run", "2m")
    assert updated.returncode == 0, updated.stderr
    assert "max run 2m00s" in updated.stdout
    assert agent_max_run(tmp_path) == 120.0
    # Another change keeps the ceiling; ``default`` drops it (the sandbox's or the default).
    kept = inprocess_cli(tmp_path, "agent", "update", "sb/support", "--compute-region", "eu")
    assert kept.returncode == 0, kept.stderr
    assert agent_max_run(tmp_path) == 120.0
    dropped = inprocess_cli(tmp_path, "agent", "update", "sb/support", "--max-run", "default")
    assert dropped.returncode == 0, dropped.stderr
    assert agent_max_run(tmp_path) is None


@pytest.mark.parametrize("value", BAD)
def test_agent_create_refuses_a_bad_ceiling(tmp_path: Path, prompt: Path, value: str) -> None:
    result = inprocess_cli(tmp_path, "agent", "create", "sb/support", "--prompt-file",
                           str(prompt), "--max-run", value)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "--max-run" in one_error_line(result.stderr)
    assert not (tmp_path / "computerouter.db").exists()


@pytest.mark.parametrize("value", BAD)
def test_agent_update_refuses_a_bad_ceiling(tmp_path: Path, prompt: Path, value: str) -> None:
    created = inprocess_cli(tmp_path, "agent", "create", "sb/support", "--prompt-file",
                            str(prompt), "--max-run", "90")  # fmt: skip
    assert created.returncode == 0, created.stderr
    result = inprocess_cli(tmp_path, "agent", "update", "sb/support", "--max-run", value)
    assert result.returncode == 2, result.stderr
    assert "--max-run" in one_error_line(result.stderr)
    assert agent_max_run(tmp_path) == 90.0


def test_sandbox_ceilings_are_stored_and_shown(tmp_path: Path) -> None:
    result = cli(tmp_path, "compute", "sandboxes", "set", "--user", "u", "--sandbox",
                 "s", "--max-run", "30m", "--max-uptime", "12h")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "runs stop after 30m00s" in result.stdout
    assert "suspends after 12h00m up" in result.stdout
    assert sandbox_settings(tmp_path) == SandboxSettings(
        user_id="u", sandbox_id="s", max_run_s=1800.0, max_uptime_s=43200.0
    )
    # Setting a window keeps the ceilings; ``default`` drops one.
    again = cli(tmp_path, "compute", "sandboxes", "set", "--user", "u", "--sandbox",
                "s", "--idle-suspend", "5m", "--max-run", "default")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "runs stop after 1h00m (default)" in again.stdout
    assert sandbox_settings(tmp_path) == SandboxSettings(
        user_id="u", sandbox_id="s", idle_suspend_s=300.0, max_uptime_s=43200.0
    )


@pytest.mark.parametrize("flag", ["--max-run", "--max-uptime"])
@pytest.mark.parametrize("value", BAD)
def test_sandbox_set_refuses_a_bad_ceiling(tmp_path: Path, flag: str, value: str) -> None:
    stored = inprocess_cli(tmp_path, "compute", "sandboxes", "set", "--user", "u", "--sandbox",
                           "s", "--max-run", "10m", "--max-uptime", "1h")  # fmt: skip
    assert stored.returncode == 0, stored.stderr
    # A good window alongside the bad ceiling is not stored either.
    result = inprocess_cli(tmp_path, "compute", "sandboxes", "set", "--user", "u", "--sandbox",
                           "s", "--idle-suspend", "2m", flag, value)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert flag in one_error_line(result.stderr)
    assert sandbox_settings(tmp_path) == SandboxSettings(
        user_id="u", sandbox_id="s", max_run_s=600.0, max_uptime_s=3600.0
    )


@pytest.mark.parametrize("name", ["MAX_RUN_S", "MAX_UPTIME_S"])
@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan"])
def test_a_bad_default_ceiling_setting_is_one_line(tmp_path: Path, name: str, value: str) -> None:
    result = inprocess_cli(
        tmp_path, "compute", "sessions", "list", env={f"COMPUTEROUTER_{name}": value}
    )
    assert result.returncode == 2, result.stderr
    assert name.lower() in one_error_line(result.stderr)
