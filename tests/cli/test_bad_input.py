"""Bad input → one clear line on stderr, a non-zero exit, and nothing changed in the store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bounded_cli import agent_pinned_elsewhere

from computerouter.domain.session import SessionRecord
from computerouter.domain.states import SessionState
from computerouter.store import Store, open_store
from computerouter.testing import session_record
from computerouter.testing.environment import child_env


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_env()
    env["COMPUTEROUTER_HOME"] = str(home)
    env["COMPUTEROUTER_LIFECYCLE_DAEMON"] = "false"  # no test here should leave one running
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
    assert lines[0].startswith("error: ")
    return lines[0]


def snapshot(store: Store) -> list[object]:
    return [(r, store.sessions.history(r.id)) for r in store.sessions.list()]


@pytest.fixture
def destroyed(tmp_path: Path) -> tuple[Store, SessionRecord]:
    store = open_store(f"sqlite:///{tmp_path / 'computerouter.db'}")
    now = time.time()
    record = session_record(
        at=now, user_id="alice", sandbox_id="sb", provider="local", runtime="echo"
    )
    store.sessions.insert_provisioning(record)
    store.sessions.transition(
        record.id, expected=SessionState.PROVISIONING, target=SessionState.DESTROYING, now=now
    )
    gone = store.sessions.transition(
        record.id, expected=SessionState.DESTROYING, target=SessionState.DESTROYED, now=now
    )
    return store, gone


def test_unknown_session_id(tmp_path: Path) -> None:
    result = cli(tmp_path, "compute", "sessions", "show", "ses_doesnotexist")
    assert result.returncode == 3
    assert "no compute session with id 'ses_doesnotexist'" in one_error_line(result)


def test_resume_of_destroyed_session_is_refused_and_nothing_changes(
    tmp_path: Path, destroyed: tuple[Store, SessionRecord]
) -> None:
    store, record = destroyed
    before = snapshot(store)
    result = cli(tmp_path, "compute", "sessions", "resume", record.id)
    assert result.returncode == 4
    line = one_error_line(result)
    assert "is destroyed; it cannot become resuming" in line
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "malformed database URL"),
        ("mysql://root@localhost/x", "unsupported database 'mysql'"),
        ("sqlite://", "must name a file"),
    ],
)
def test_malformed_database_url(tmp_path: Path, url: str, message: str) -> None:
    result = cli(tmp_path, "--database-url", url, "compute", "sessions", "list")
    assert result.returncode == 2
    assert message in one_error_line(result)
    assert not (tmp_path / "computerouter.db").exists()


def test_database_url_from_environment_is_checked_too(tmp_path: Path) -> None:
    env_cli = subprocess.run(
        [sys.executable, "-m", "computerouter", "compute", "sessions", "list"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "COMPUTEROUTER_HOME": str(tmp_path),
            "COMPUTEROUTER_DATABASE_URL": "postgresql://u@:notaport/db",
        },
        timeout=60,
        check=False,
    )
    assert env_cli.returncode == 2
    assert "database URL" in one_error_line(env_cli)


def test_invalid_user_id_creates_nothing(tmp_path: Path) -> None:
    result = cli(
        tmp_path, "compute", "sessions", "ensure", "--user", "no spaces!", "--sandbox", "s"
    )
    assert result.returncode == 2
    assert "user_id 'no spaces!' is not valid" in one_error_line(result)
    store = open_store(f"sqlite:///{tmp_path / 'computerouter.db'}")
    assert store.sessions.list() == []


def test_unknown_provider_creates_nothing(tmp_path: Path) -> None:
    result = cli(
        tmp_path,
        "compute",
        "sessions",
        "ensure",
        "--user",
        "u",
        "--sandbox",
        "s",
        "--provider",
        "nowhere",
    )
    assert result.returncode == 2
    assert "unknown provider 'nowhere'" in one_error_line(result)
    store = open_store(f"sqlite:///{tmp_path / 'computerouter.db'}")
    assert store.sessions.list() == []


def test_bad_duration(tmp_path: Path) -> None:
    result = cli(
        tmp_path,
        "compute",
        "sandboxes",
        "set",
        "--user",
        "u",
        "--sandbox",
        "s",
        "--idle-suspend",
        "soon",
    )
    assert result.returncode == 2
    assert "not a duration: 'soon'" in one_error_line(result)


def test_bad_config_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("idle_suspend_s = 'never'\n")
    result = cli(tmp_path, "compute", "sessions", "list")
    assert result.returncode == 2
    assert "idle_suspend_s" in one_error_line(result)


# -- agents and runs --------------------------------------------------------------------------


def agent_rows(home: Path) -> list[object]:
    from computerouter.store.agents import AgentStore

    store = open_store(f"sqlite:///{home / 'computerouter.db'}")
    return list(AgentStore(store.engine).list("local"))


@pytest.fixture
def prompt(tmp_path: Path) -> Path:
    path = tmp_path / "prompt.md"
    path.write_text("You are support.\n")
    return path


def test_agent_create_with_missing_prompt_file(tmp_path: Path) -> None:
    result = cli(
        tmp_path,
        "agent",
        "create",
        "support",
        "--sandbox",
        "sb",
        "--prompt-file",
        str(tmp_path / "nope.md"),
    )
    assert result.returncode == 2
    assert "does not exist" in one_error_line(result)
    assert agent_rows(tmp_path) == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--backend", "llama-agent"], "unknown backend 'llama-agent'"),
        (["--compute-provider", "aws"], "unknown compute provider 'aws'"),
        (["--compute-policy", "fastest"], "unknown compute policy 'fastest'"),
    ],
)
def test_agent_create_with_unknown_names(
    tmp_path: Path, prompt: Path, flags: list[str], message: str
) -> None:
    result = cli(
        tmp_path,
        "agent",
        "create",
        "support",
        "--sandbox",
        "sb",
        "--prompt-file",
        str(prompt),
        *flags,
    )
    assert result.returncode == 2
    assert message in one_error_line(result)
    assert agent_rows(tmp_path) == []


def test_run_unknown_agent_and_empty_input(tmp_path: Path, prompt: Path) -> None:
    missing = cli(tmp_path, "run", "sb/nobody", "hello")
    assert missing.returncode == 3
    assert "no agent sb/nobody" in one_error_line(missing)
    created = cli(tmp_path, "agent", "create", "sb/support", "--prompt-file", str(prompt))
    assert created.returncode == 0, created.stderr
    empty = cli(tmp_path, "run", "sb/support", "   ")
    assert empty.returncode == 2
    assert "input is empty" in one_error_line(empty)
    store = open_store(f"sqlite:///{tmp_path / 'computerouter.db'}")
    assert store.sessions.list() == []


def test_a_pin_to_an_unknown_provider_is_refused(tmp_path: Path, prompt: Path) -> None:
    created = cli(
        tmp_path, "agent", "create", "sb/fast", "--prompt-file", str(prompt),
        "--compute-provider", "aws",
    )  # fmt: skip
    assert created.returncode == 2
    assert one_error_line(created).startswith("error: unknown compute provider 'aws' (known: ")
    assert cli(tmp_path, "agent", "list").stdout.count("sb/fast") == 0


def test_run_on_a_provider_this_router_does_not_offer(tmp_path: Path) -> None:
    agent_pinned_elsewhere(tmp_path, "sb/fast")
    result = cli(tmp_path, "run", "sb/fast", "hello")
    assert result.returncode == 1
    assert "daytona" in one_error_line(result)
    store = open_store(f"sqlite:///{tmp_path / 'computerouter.db'}")
    assert store.sessions.list() == []
