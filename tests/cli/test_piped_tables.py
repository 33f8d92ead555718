"""Tables piped into another program keep every id whole (no "…", no id split over lines)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cli_support import cli, store_of

from computerouter.domain.agents import AgentRecord, ModelSettings
from computerouter.domain.ids import new_id
from computerouter.domain.states import SessionState
from computerouter.store.agents import AgentStore
from computerouter.testing import session_record

# Long but valid ids: a table fitted to 80 columns would have to cut them.
USER = "operator-with-a-rather-long-user-id-0123456789abcdefghij"
SANDBOX = "sandbox-with-an-even-longer-identifier-0123456789abcdefghijklmnop"
SLUG = "support-agent-with-a-long-slug-0123456789abcdef"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    store = store_of(tmp_path)
    now = time.time()
    for sandbox in (SANDBOX, SANDBOX + "-2"):
        record = session_record(
            at=now, user_id=USER, sandbox_id=sandbox, provider="local", runtime="hermes"
        )
        store.sessions.insert_provisioning(record)
        store.sessions.transition(
            record.id, expected=SessionState.PROVISIONING, target=SessionState.FAILED, now=now
        )
    AgentStore(store.engine).create(
        AgentRecord(
            id=new_id("agt"),
            user_id=USER,
            sandbox_id=SANDBOX,
            slug=SLUG,
            settings=ModelSettings(compute_provider="local"),
            prompt="You are a support agent with a long first line of prompt, longer than most.",
            created_at=now,
            updated_at=now,
        )
    )
    store.close()
    return tmp_path


def ids_in(home: Path) -> list[str]:
    store = store_of(home)
    try:
        ids = [r.id for r in store.sessions.list()]
        ids += [a.id for a in AgentStore(store.engine).list(USER)]
        return ids
    finally:
        store.close()


def assert_whole(output: str, *values: str) -> None:
    assert "…" not in output, output
    for value in values:
        assert value in output, f"{value!r} is cut in:\n{output}"


def test_sessions_list_keeps_ids_whole_when_piped(home: Path) -> None:
    result = cli(home, "compute", "sessions", "list", "--all")
    assert result.returncode == 0, result.stderr
    sessions = [i for i in ids_in(home) if i.startswith("ses_")]
    assert len(sessions) == 2
    assert_whole(result.stdout, *sessions, USER, SANDBOX, SANDBOX + "-2")


def test_session_show_keeps_ids_whole_when_piped(home: Path) -> None:
    session = next(i for i in ids_in(home) if i.startswith("ses_"))
    result = cli(home, "compute", "sessions", "show", session)
    assert result.returncode == 0, result.stderr
    assert_whole(result.stdout, session, USER)


def test_agent_list_keeps_ids_whole_when_piped(home: Path) -> None:
    [agent] = [i for i in ids_in(home) if i.startswith("agt_")]
    result = cli(home, "agent", "list", "--user", USER)
    assert result.returncode == 0, result.stderr
    assert_whole(result.stdout, agent, f"{SANDBOX}/{SLUG}")
