"""Conflicting, empty and out-of-range flags: one line, exit 2, nothing stored; and model text
reaches the terminal with its escape sequences shown, not obeyed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from bounded_cli import agent_pinned_elsewhere, cli_env, measured_cli, one_error_line

from computerouter.cli.run import Renderer
from computerouter.domain.events import ApprovalRequested, MessageDelta, RunFailed, ToolStarted
from computerouter.domain.session import SandboxSettings
from computerouter.domain.values import SessionKey
from computerouter.store import open_store
from computerouter.store.agents import AgentStore


def store_of(home: Path):  # type: ignore[no-untyped-def]
    return open_store(f"sqlite:///{home / 'computerouter.db'}")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home with one agent pinned to a provider this router does not offer: a run that got
    past the input checks would fail with exit 1 naming it, so exit 2 shows the checks
    refused it."""
    home = tmp_path / "home"
    agent_pinned_elsewhere(home, "sb/support")
    return home


def test_approve_and_deny_together_are_refused(home: Path) -> None:
    result = measured_cli(home, "run", "sb/support", "rm -rf it", "--approve", "--deny")
    assert result.returncode == 2, result.stderr
    assert "--approve or --deny, not both" in one_error_line(result.stderr)
    store = store_of(home)
    assert store.sessions.list() == []
    store.close()


@pytest.mark.parametrize(
    "args",
    [
        ["run", "sb/support", "hello", "--user", ""],
        ["agent", "list", "--user", ""],
        ["agent", "show", "sb/support", "--user", ""],
        ["agent", "delete", "sb/support", "--user", ""],
    ],
)
def test_empty_user_is_refused_not_taken_for_the_default(home: Path, args: list[str]) -> None:
    result = measured_cli(home, *args)
    assert result.returncode == 2, result.stderr
    assert "user_id '' is not valid" in one_error_line(result.stderr)
    store = store_of(home)
    assert len(list(AgentStore(store.engine).list("local"))) == 1  # delete did not happen
    store.close()


def test_empty_user_on_create_stores_nothing(tmp_path: Path) -> None:
    prompt = tmp_path / "p.md"
    prompt.write_text("hi")
    result = measured_cli(
        tmp_path, "agent", "create", "sb/x", "--user", "", "--prompt-file", str(prompt)
    )
    assert result.returncode == 2
    assert "user_id '' is not valid" in one_error_line(result.stderr)
    assert not (tmp_path / "computerouter.db").exists()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--user", "alice\n", "user_id 'alice\\n' is not valid"),
        ("--sandbox", "sb\n", "sandbox_id 'sb\\n' is not valid"),
        ("--compute-region", "EU\x1b[2J", "region 'EU\\x1b[2J' is not valid"),
        ("--compute-region", "", "region '' is not valid"),
    ],
)
def test_names_are_checked_whole(tmp_path: Path, flag: str, value: str, message: str) -> None:
    prompt = tmp_path / "p.md"
    prompt.write_text("hi")
    result = measured_cli(tmp_path, "agent", "create", "x", "--sandbox", "sb",
                          "--prompt-file", str(prompt), flag, value)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in one_error_line(result.stderr)
    assert not (tmp_path / "computerouter.db").exists()


def test_error_text_is_not_read_as_markup(tmp_path: Path) -> None:
    result = measured_cli(tmp_path, "run", "sb/[bold]", "hello")
    assert result.returncode == 2, result.stderr
    assert "agent slug '[bold]'" in one_error_line(result.stderr)


def test_archive_after_shorter_than_idle_suspend(tmp_path: Path) -> None:
    both = measured_cli(tmp_path, "compute", "sandboxes", "set", "--user", "u", "--sandbox", "s",
                        "--idle-suspend", "1h", "--archive-after", "10m")  # fmt: skip
    assert both.returncode == 2, both.stderr
    assert "shorter than --idle-suspend" in one_error_line(both.stderr)
    assert not (tmp_path / "computerouter.db").exists()
    stored = measured_cli(tmp_path, "compute", "sandboxes", "set", "--user", "u", "--sandbox", "s",
                          "--idle-suspend", "10m", "--archive-after", "1d")  # fmt: skip
    assert stored.returncode == 0, stored.stderr
    against_stored = measured_cli(tmp_path, "compute", "sandboxes", "set", "--user", "u",
                                  "--sandbox", "s", "--archive-after", "5m")  # fmt: skip
    assert against_stored.returncode == 2
    assert "shorter than idle suspend" in one_error_line(against_stored.stderr)
    against_default = measured_cli(tmp_path, "compute", "sandboxes", "set", "--user", "u",
                                   "--sandbox", "t", "--archive-after", "1m")  # fmt: skip
    assert against_default.returncode == 2
    store = store_of(tmp_path)
    assert store.sandboxes.get(SessionKey(user_id="u", sandbox_id="s")) == SandboxSettings(
        user_id="u", sandbox_id="s", idle_suspend_s=600.0, archive_after_s=86400.0
    )
    assert store.sandboxes.all().keys() == {("u", "s")}
    store.close()


@pytest.mark.parametrize("value", ["0", "0s", "99999999999999999999999999d"])
def test_idle_suspend_must_be_positive_and_finite(tmp_path: Path, value: str) -> None:
    result = measured_cli(tmp_path, "compute", "sandboxes", "set", "--user", "u", "--sandbox",
                          "s", "--idle-suspend", value)  # fmt: skip
    assert result.returncode == 2, result.stderr
    one_error_line(result.stderr)
    assert not (tmp_path / "computerouter.db").exists()


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "1e12"])
def test_exec_timeout_must_be_positive_and_bounded(tmp_path: Path, value: str) -> None:
    result = measured_cli(
        tmp_path, "compute", "sessions", "exec", "ses_whatever", "--timeout", value, "--", "true"
    )
    assert result.returncode == 2, result.stderr
    assert "--timeout must be more than 0" in one_error_line(result.stderr)


# -- model text on the terminal ---------------------------------------------------------------

HOSTILE_TEXT = "a\x1b[2J\x1b]0;pwned\x07red\x9b31m\rover\x08\u202eevil\nnext\tline"
ATTRIBUTION = {"run_id": "run_1", "agent_id": "agt_1", "sandbox_id": "sb", "user_id": "u", "at": 0}


def test_model_text_is_shown_with_escapes_visible(capsys: pytest.CaptureFixture[str]) -> None:
    renderer = Renderer(as_json=False)
    renderer.show(MessageDelta(delta=HOSTILE_TEXT, **ATTRIBUTION))  # type: ignore[arg-type]
    renderer.show(ToolStarted(tool="terminal", preview="echo \x1b[31m[/]", **ATTRIBUTION))  # type: ignore[arg-type]
    renderer.show(ApprovalRequested(command="rm \x1b[8mx", **ATTRIBUTION))  # type: ignore[arg-type]
    renderer.show(RunFailed(error="bad \x1b[5m", **ATTRIBUTION))  # type: ignore[arg-type]
    out = capsys.readouterr().out
    for raw in ("\x1b", "\x07", "\x9b", "\r", "\x08", "\u202e"):
        assert raw not in out, repr(raw)
    for shown in ("\\x1b[2J", "\\x1b]0;pwned\\x07", "\\x9b31m", "\\x0dover", "\\x08", "\\u202e"):
        assert shown in out, shown
    assert re.search(r"\nnext\s+line", out)  # newline kept; the tab is laid out as spaces
    assert "echo \\x1b[31m[/]" in out


def test_json_carries_model_text_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    Renderer(as_json=True).show(MessageDelta(delta=HOSTILE_TEXT, **ATTRIBUTION))  # type: ignore[arg-type]
    line = capsys.readouterr().out
    assert "\x1b" not in line  # JSON-escaped on the wire...
    assert json.loads(line)["delta"] == HOSTILE_TEXT  # ...and exactly the text once decoded


def test_argument_that_is_not_utf8(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "computerouter", "compute", "sessions", "show", b"ses_\xff"],
        capture_output=True,
        text=True,
        env=cli_env(tmp_path),
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "argument 4 is not valid UTF-8" in one_error_line(result.stderr)


@pytest.mark.parametrize("verb", ["suspend", "resume", "archive", "destroy"])
def test_session_id_is_not_read_as_markup(tmp_path: Path, verb: str) -> None:
    result = measured_cli(tmp_path, "compute", "sessions", verb, "[/]")
    assert result.returncode == 3, result.stderr[-1500:]
    assert "no compute session with id '[/]'" in one_error_line(result.stderr)
