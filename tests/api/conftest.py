"""The API tests' world: :func:`computerouter.testing.live_api.live_api` per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from computerouter.testing.live_api import Api, LiveServer, live_api

__all__ = ["Api", "LiveServer"]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with live_api(tmp_path) as world:
        yield world
