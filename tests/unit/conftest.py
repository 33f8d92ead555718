from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.store import Store, open_store
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(
        env={},
        home=tmp_path,
        default_provider="fake",
        default_runtime="fake",
        wait_timeout_s=20.0,
    )


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
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def router(
    store: Store, provider: FakeProvider, runtime: FakeRuntime, settings: Settings, clock: FakeClock
) -> ComputeRouter:
    return ComputeRouter(
        store=store,
        providers={"fake": provider},
        runtimes={"fake": runtime},
        settings=settings,
        clock=clock,
    )
