from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from computerouter.domain.ids import new_session_id
from computerouter.domain.states import SessionState
from computerouter.domain.values import Endpoint
from computerouter.errors import ConfigError, InvalidTransition, SessionNotFound, StaleState
from computerouter.store import Store, open_store
from computerouter.store import engine as store_engine
from computerouter.store.engine import HEAD_REVISION, parse_database_url
from computerouter.store.sessions import Transition
from computerouter.testing import session_record


def test_head_revision_is_the_migration_head() -> None:
    config = Config()
    config.set_main_option(
        "script_location", str(Path(store_engine.__file__).with_name("migrations"))
    )
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_reopen_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    open_store(url).close()
    again = open_store(url)
    assert again.sessions.list() == []
    again.close()


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:////tmp/a.db", "sqlite+pysqlite"),
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
    ],
)
def test_driver_choice(url: str, driver: str) -> None:
    assert parse_database_url(url).drivername == driver


@pytest.mark.parametrize("url", ["", "garbage", "oracle://x/y", "sqlite://", "sqlite:///:memory:"])
def test_unusable_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_database_url(url)


def test_password_is_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_database_url("mysql://user:s3cret@host/db")
    assert "s3cret" not in str(info.value)


def test_one_live_session_per_key_and_transitions_are_compare_and_set(store: Store) -> None:
    now = time.time()
    record = session_record(at=now)
    assert store.sessions.insert_provisioning(record)
    assert not store.sessions.insert_provisioning(replace(record, id=new_session_id()))
    running = store.sessions.transition(
        record.id, expected=SessionState.PROVISIONING, target=SessionState.RUNNING, now=now
    )
    assert running.version == 2
    with pytest.raises(StaleState):
        store.sessions.transition(
            record.id, expected=SessionState.PROVISIONING, target=SessionState.RUNNING, now=now
        )
    with pytest.raises(InvalidTransition):
        store.sessions.transition(
            record.id, expected=SessionState.RUNNING, target=SessionState.RESUMING, now=now
        )
    with pytest.raises(SessionNotFound):
        store.sessions.transition(
            "ses_missing", expected=SessionState.RUNNING, target=SessionState.SUSPENDING, now=now
        )
    assert store.sessions.require(record.id).version == 2
    # a failed session frees the key
    store.sessions.transition(
        record.id, expected=SessionState.RUNNING, target=SessionState.FAILED, now=now
    )
    assert store.sessions.insert_provisioning(replace(record, id=new_session_id()))


def test_an_endpoint_keeps_its_headers(store: Store) -> None:
    now = time.time()
    record = session_record(at=now)
    assert store.sessions.insert_provisioning(record)
    remote = Endpoint(kind="http", address="https://8080-sb.proxy", headers=(("x-token", "t1"),))
    store.sessions.transition(
        record.id,
        expected=SessionState.PROVISIONING,
        target=SessionState.RUNNING,
        now=now,
        changes=Transition(endpoint=remote),
    )
    found = store.sessions.get(record.id)
    assert found is not None
    assert found.endpoint == remote
