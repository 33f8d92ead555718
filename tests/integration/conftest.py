"""Real Hermes in real local sessions, through the model stand-in.

The Hermes image (a virtualenv with hermes-agent) is built once into a cache shared by test
runs (``COMPUTEROUTER_TEST_IMAGES``, default ``/var/cache/computerouter-images``); the first
build takes about a minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hermes_world import MODEL_KEY, World, destroy_all, make_world

from computerouter.providers.local import probe
from computerouter.standin import StandinModel


@pytest.fixture(scope="module")
def hermes_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"Hermes integration needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    with StandinModel(api_key=MODEL_KEY, slow_seconds=20.0) as model:
        world = make_world(tmp_path_factory.mktemp("hermes-home"), model)
        try:
            yield world
        finally:
            destroy_all(world)
