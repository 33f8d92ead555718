from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from standin_sse import KEY

from computerouter.standin import StandinModel


@pytest.fixture
def model() -> Iterator[StandinModel]:
    with StandinModel(slow_seconds=0.2) as running:
        yield running


@pytest.fixture
def keyed() -> Iterator[StandinModel]:
    with StandinModel(api_key=KEY) as running:
        yield running


@pytest.fixture
def client(model: StandinModel) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=model.base_url, timeout=10) as opened:
        yield opened
