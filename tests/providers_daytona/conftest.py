"""The Daytona emulator, started per test in a temporary root, with fast timings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from computerouter.emulators.daytona import EmulatorServer, EmulatorSettings, Timings
from computerouter.providers.local import probe


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorServer]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"the emulator backs sandboxes with local sessions: {', '.join(gaps)}")
    settings = EmulatorSettings(timings=Timings(speed=100.0))
    with EmulatorServer(root=tmp_path / "emulator", settings=settings) as server:
        yield server
        assert server.emulator.unimplemented == [], "the SDK called routes the emulator lacks"
