"""Run tokens on SQLite and PostgreSQL: a token verifies for its own run only while the run is
in flight, expires at its ceiling (an injected clock), is revoked with its run, and names one
user's sandbox only."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from computerouter.agents.run_token import RunTokens
from computerouter.errors import Unauthorized
from computerouter.store.engine import create_engine, migrate
from computerouter.store.run_tokens import RunTokenStore
from computerouter.testing import FakeClock

PG_URL = os.environ.get("COMPUTEROUTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tokens.db'}"
        return
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:  # any failure to reach PostgreSQL means: skip, and say why
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {str(exc).splitlines()[0]}")
    schema = f"cr_test_{secrets.token_hex(4)}"
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tokens(database_url: str, clock: FakeClock) -> Iterator[RunTokens]:
    engine = create_engine(database_url)
    migrate(engine)
    yield RunTokens(RunTokenStore(engine), clock=clock)
    engine.dispose()


def issue(tokens: RunTokens, clock: FakeClock, run_id: str, user_id: str = "alice") -> str:
    _, plaintext = tokens.issue(
        user_id=user_id,
        sandbox_id=f"{user_id}-sb",
        agent_id=f"agt_{user_id}",
        run_id=run_id,
        expires_at=clock.now() + 60,
    )
    return plaintext


def test_a_token_names_its_own_run_and_nothing_else(tokens: RunTokens, clock: FakeClock) -> None:
    alice = issue(tokens, clock, "run_a")
    bob = issue(tokens, clock, "run_b", user_id="bob")
    found = tokens.verify(alice)
    assert (found.user_id, found.sandbox_id, found.run_id) == ("alice", "alice-sb", "run_a")
    assert tokens.verify(bob).user_id == "bob"
    assert alice != bob


def test_only_a_hash_of_the_secret_is_kept(tokens: RunTokens, clock: FakeClock) -> None:
    plaintext = issue(tokens, clock, "run_a")
    found = tokens.verify(plaintext)
    assert plaintext.split(".", 1)[1] not in found.secret_hash
    assert plaintext not in repr(found)


@pytest.mark.parametrize(
    "presented",
    ["", "garbage", "rtk_nothing", "rtk_01ABCDEFGHIJKLMNOPQRSTUV.secret", "key_x.y"],
)
def test_malformed_or_unknown_tokens_are_refused(
    tokens: RunTokens, clock: FakeClock, presented: str
) -> None:
    issue(tokens, clock, "run_a")
    with pytest.raises(Unauthorized):
        tokens.verify(presented)


def test_a_wrong_secret_with_a_real_id_is_refused(tokens: RunTokens, clock: FakeClock) -> None:
    token_id, _, secret = issue(tokens, clock, "run_a").partition(".")
    with pytest.raises(Unauthorized, match="unknown"):
        tokens.verify(f"{token_id}.{secret[:-2]}xx")


def test_a_token_expires_at_its_ceiling(tokens: RunTokens, clock: FakeClock) -> None:
    plaintext = issue(tokens, clock, "run_a")
    clock.advance(59.9)
    assert tokens.verify(plaintext).run_id == "run_a"
    clock.advance(0.1)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.verify(plaintext)


def test_revoking_a_run_refuses_its_tokens_at_once_and_no_other(
    tokens: RunTokens, clock: FakeClock
) -> None:
    first = issue(tokens, clock, "run_1")
    second = issue(tokens, clock, "run_2")
    assert tokens.revoke_run("run_1") == 1
    with pytest.raises(Unauthorized, match="revoked"):
        tokens.verify(first)
    assert tokens.verify(second).run_id == "run_2"
    assert tokens.revoke_run("run_1") == 0  # twice is no error, and changes nothing


def test_run_n_token_is_refused_during_run_n_plus_1(tokens: RunTokens, clock: FakeClock) -> None:
    run_n = issue(tokens, clock, "run_n")
    tokens.revoke_run("run_n")  # the run ended
    run_n1 = issue(tokens, clock, "run_n1")
    assert tokens.verify(run_n1).run_id == "run_n1"
    with pytest.raises(Unauthorized):
        tokens.verify(run_n)
