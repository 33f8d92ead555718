"""The Sprites emulator, started for a test in a temporary root and stopped after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from computerouter.emulators.fly_sprites import RunningEmulator, Timings, World, start
from computerouter.providers.local import probe

TOKEN = "test-token"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"the emulator backs sprites with local sessions: {', '.join(gaps)}")
    world = World(root=tmp_path / "sprites", token=TOKEN, timings=Timings(speed=10.0))
    running = start(world)
    try:
        yield running
    finally:
        running.stop()
