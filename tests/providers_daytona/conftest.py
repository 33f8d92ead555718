"""The Daytona emulator, started per test in a temporary root, with fast timings."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from computerouter.domain.values import Labels, Resources
from computerouter.emulators.daytona import EmulatorServer, EmulatorSettings, Timings
from computerouter.providers.base import InstanceSpec
from computerouter.providers.daytona.provider import DaytonaProvider
from computerouter.providers.local import probe
from computerouter.runtimes.echo import EchoRuntime


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorServer]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"the emulator backs sandboxes with local sessions: {', '.join(gaps)}")
    settings = EmulatorSettings(timings=Timings(speed=100.0))
    with EmulatorServer(root=tmp_path / "emulator", settings=settings) as server:
        yield server
        assert server.emulator.unimplemented == [], "the SDK called routes the emulator lacks"


@pytest.fixture
def daytona(emulator: EmulatorServer) -> Iterator[DaytonaProvider]:
    provider = DaytonaProvider(
        api_url=emulator.api_url, api_key="emulator-key", target="us", router_id="test"
    )
    try:
        yield provider
    finally:
        for instance in provider.list():
            provider.destroy(instance.instance_id)


@pytest.fixture
def echo_spec() -> Callable[..., InstanceSpec]:
    runtime = EchoRuntime()

    def make(**labels: str) -> InstanceSpec:
        session_id = f"ses_{uuid.uuid4().hex[:20]}"
        return InstanceSpec(
            idempotency_key=session_id,
            labels=Labels(
                session_id=session_id,
                user_id=labels.get("user_id", "user-1"),
                sandbox_id=labels.get("sandbox_id", "sandbox-1"),
                agent_id=labels.get("agent_id", "agent-1"),
                run_id=labels.get("run_id", ""),
            ),
            resources=Resources(cpus=1.0, memory_mb=1024),
            launch=runtime.launch_spec(session_id=session_id),
            region=labels.get("region", ""),
        )

    return make
