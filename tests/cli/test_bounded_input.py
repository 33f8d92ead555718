"""Hostile sources as a prompt or a run's input: one line, exit 2, nothing stored, and the
command line's own memory stays small (measured, not assumed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bounded_cli import inprocess_cli, measured_cli, one_error_line

from computerouter.domain.limits import INPUT_MAX_BYTES, PROMPT_MAX_BYTES
from computerouter.store import open_store
from computerouter.store.agents import AgentStore

PEAK_MB = 200
FIFTY_MB = 50 * 1024 * 1024


def _dev_zero(tmp: Path) -> Path:
    return Path("/dev/zero")


def _fifty_mb(tmp: Path) -> Path:
    path = tmp / "big.md"
    with path.open("wb") as fh:
        fh.truncate(FIFTY_MB)  # sparse: 50 MB of NULs without writing them
    return path


def _fifty_mb_text(tmp: Path) -> Path:
    path = tmp / "big-text.md"
    path.write_bytes(b"You are support. " * (FIFTY_MB // 17))
    return path


def _directory(tmp: Path) -> Path:
    path = tmp / "prompts"
    path.mkdir()
    return path


def _binary(tmp: Path) -> Path:
    path = tmp / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    return path


HOSTILE = [
    pytest.param(_dev_zero, "larger than the limit of 256 KiB", id="dev-zero"),
    pytest.param(_fifty_mb, "larger than the limit of 256 KiB", id="50MB-sparse"),
    pytest.param(_fifty_mb_text, "larger than the limit of 256 KiB", id="50MB-text"),
    pytest.param(_directory, "is a directory", id="directory"),
    pytest.param(_binary, "is not UTF-8 text", id="binary"),
]


def agents_in(home: Path) -> list[object]:
    if not (home / "computerouter.db").exists():
        return []
    store = open_store(f"sqlite:///{home / 'computerouter.db'}")
    try:
        return list(AgentStore(store.engine).list("local"))
    finally:
        store.close()


@pytest.mark.parametrize(("make", "message"), HOSTILE)
def test_hostile_prompt_file_is_refused_in_bounded_memory(
    tmp_path: Path, make: object, message: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert callable(make)
    source = make(tmp_path)
    result = measured_cli(home, "agent", "create", "sb/support", "--prompt-file", str(source))
    assert result.returncode == 2, result.stderr[-2000:]
    line = one_error_line(result.stderr)
    assert message in line
    assert "prompt file" in line
    assert result.peak_mb < PEAK_MB, f"peak RSS {result.peak_mb:.0f} MB"
    assert not (home / "computerouter.db").exists()  # refused before the store was opened
    assert agents_in(home) == []


def test_prompt_from_stdin_dev_zero(tmp_path: Path) -> None:
    result = measured_cli(
        tmp_path, "agent", "create", "sb/support", "--prompt-file", "-", stdin=Path("/dev/zero")
    )
    assert result.returncode == 2
    assert "larger than the limit" in one_error_line(result.stderr)
    assert result.peak_mb < PEAK_MB


@pytest.fixture
def home_with_agent(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    prompt = tmp_path / "prompt.md"
    prompt.write_text("You are support.\n")
    made = measured_cli(home, "agent", "create", "sb/support", "--prompt-file", str(prompt))
    assert made.returncode == 0, made.stderr
    return home


def sessions_in(home: Path) -> list[object]:
    store = open_store(f"sqlite:///{home / 'computerouter.db'}")
    try:
        return list(store.sessions.list())
    finally:
        store.close()


@pytest.mark.parametrize(("make", "message"), HOSTILE)
def test_hostile_run_input_file_is_refused_in_bounded_memory(
    tmp_path: Path, home_with_agent: Path, make: object, message: str
) -> None:
    assert callable(make)
    source = make(tmp_path)
    result = measured_cli(home_with_agent, "run", "sb/support", "--input-file", str(source))
    assert result.returncode == 2, result.stderr[-2000:]
    line = one_error_line(result.stderr)
    assert message in line
    assert "input file" in line
    assert result.peak_mb < PEAK_MB, f"peak RSS {result.peak_mb:.0f} MB"
    assert sessions_in(home_with_agent) == []


def test_run_input_from_stdin_is_bounded_too(home_with_agent: Path) -> None:
    result = measured_cli(
        home_with_agent, "run", "sb/support", "--input-file", "-", stdin=Path("/dev/zero")
    )
    assert result.returncode == 2
    assert "input from stdin is larger than the limit" in one_error_line(result.stderr)
    assert result.peak_mb < PEAK_MB
    assert sessions_in(home_with_agent) == []


def test_run_input_as_an_argument_is_bounded(home_with_agent: Path) -> None:
    # Linux caps one argument at 128 KiB, so this runs in process; multi-byte, so bytes, not
    # characters, are what is counted.
    text = "é" * (INPUT_MAX_BYTES // 2 + 1)
    result = inprocess_cli(home_with_agent, "run", "sb/support", text)
    assert result.returncode == 2
    assert "the input is larger than the limit of 256 KiB" in one_error_line(result.stderr)
    assert sessions_in(home_with_agent) == []


def test_input_argument_and_input_file_together_are_refused(
    tmp_path: Path, home_with_agent: Path
) -> None:
    given = tmp_path / "input.txt"
    given.write_text("hello")
    result = measured_cli(home_with_agent, "run", "sb/support", "hi", "--input-file", str(given))
    assert result.returncode == 2
    assert "not both" in one_error_line(result.stderr)
    assert sessions_in(home_with_agent) == []


def test_prompt_at_the_limit_is_stored_and_one_byte_more_is_not(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    exact = tmp_path / "exact.md"
    exact.write_bytes(b"p" * PROMPT_MAX_BYTES)
    over = tmp_path / "over.md"
    over.write_bytes(b"p" * (PROMPT_MAX_BYTES + 1))
    refused = measured_cli(home, "agent", "create", "sb/big", "--prompt-file", str(over))
    assert refused.returncode == 2
    assert "larger than the limit" in one_error_line(refused.stderr)
    stored = measured_cli(home, "agent", "create", "sb/big", "--prompt-file", str(exact))
    assert stored.returncode == 0, stored.stderr
    [agent] = agents_in(home)
    assert len(agent.prompt) == PROMPT_MAX_BYTES  # type: ignore[attr-defined]


def test_prompt_update_with_a_hostile_file_keeps_the_old_prompt(
    tmp_path: Path, home_with_agent: Path
) -> None:
    before = agents_in(home_with_agent)
    result = measured_cli(
        home_with_agent, "agent", "update", "sb/support", "--prompt-file", "/dev/zero"
    )
    assert result.returncode == 2
    assert "larger than the limit" in one_error_line(result.stderr)
    assert agents_in(home_with_agent) == before


def test_sparse_file_is_refused_by_its_size_without_reading(tmp_path: Path) -> None:
    big = _fifty_mb(tmp_path)
    assert os.stat(big).st_blocks * 512 < FIFTY_MB  # it really is sparse
    result = measured_cli(tmp_path, "agent", "create", "sb/s", "--prompt-file", str(big))
    assert result.returncode == 2
    assert result.peak_mb < PEAK_MB
