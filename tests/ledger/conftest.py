from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_helpers import make_router, make_settings

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.ledger import Ledger, default_prices
from computerouter.store import Store, open_store
from computerouter.testing import FakeClock, FakeProvider

PG_URL = os.environ.get("COMPUTEROUTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = open_store(settings.effective_database_url)
    yield opened
    opened.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def ledger(store: Store, clock: FakeClock) -> Ledger:
    return Ledger(store=store, prices=default_prices(), clock=clock)


@pytest.fixture
def router(
    store: Store, settings: Settings, clock: FakeClock, ledger: Ledger, provider: FakeProvider
) -> ComputeRouter:
    return make_router(store, settings, clock, ledger, provider)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL database; dropped afterwards."""
    try:
        import psycopg

        conn = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:  # any failure to reach PostgreSQL means: skip, and say why
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {str(exc).splitlines()[0]}")
    schema = f"cr_ledger_{secrets.token_hex(4)}"
    conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()
