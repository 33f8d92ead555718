"""The Daytona health probe against the emulator, through the real SDK: one list call the
emulator answers; an injected fault fails it with the right ``retryable``; cleared, it passes
and the lifecycle's probe closes the circuit without a user's request."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from computerouter.compute.probes import probe_once
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.emulators.daytona import EmulatorServer
from computerouter.errors import ProviderError
from computerouter.providers.base import HealthProbe
from computerouter.providers.daytona.provider import DaytonaProvider
from computerouter.runtimes.echo import EchoRuntime
from computerouter.store import open_store
from computerouter.testing import FakeClock


def _fault(emulator: EmulatorServer, **fault: object) -> None:
    httpx.post(f"{emulator.base_url}/admin/faults", json=fault).raise_for_status()


@pytest.mark.parametrize(
    ("status", "retryable", "retry_after"),
    [(503, True, 7.0), (429, True, 3.0), (500, True, None), (401, False, None)],
)
def test_a_fault_fails_the_probe_and_clearing_it_lets_it_pass(
    daytona: DaytonaProvider,
    emulator: EmulatorServer,
    status: int,
    retryable: bool,
    retry_after: float | None,
) -> None:
    assert isinstance(daytona, HealthProbe)
    daytona.probe("us")
    _fault(emulator, route="GET /api/sandbox", status=status, retry_after_s=retry_after, count=5)
    with pytest.raises(ProviderError) as caught:
        daytona.probe("us")
    assert caught.value.retryable is retryable
    if status != 401:
        assert caught.value.retry_after_s == retry_after
    httpx.delete(f"{emulator.base_url}/admin/faults").raise_for_status()
    daytona.probe("us")


def test_the_lifecycle_probe_reopens_then_closes_a_daytona_circuit(
    daytona: DaytonaProvider, emulator: EmulatorServer, tmp_path: Path
) -> None:
    settings = Settings.load(env={}, home=tmp_path, lifecycle_daemon=False)
    store = open_store(settings.effective_database_url)
    clock = FakeClock()
    try:
        router = ComputeRouter(
            store=store,
            providers={"daytona": daytona},
            runtimes={"echo": EchoRuntime()},
            settings=settings,
            clock=clock,
        )
        router.health.failed("daytona", now=clock.now(), error="503")
        clock.advance(settings.provider_cooldown_s + 1)
        _fault(emulator, route="GET /api/sandbox", status=503, count=1)
        assert probe_once(router).circuits_reopened == ["daytona"]
        reopened = router.health.store.get("daytona")
        assert reopened is not None
        assert reopened.cooldown_s == 2 * settings.provider_cooldown_s
        clock.advance(2 * settings.provider_cooldown_s + 1)
        assert probe_once(router).circuits_closed == ["daytona"]
        closed = router.health.store.get("daytona")
        assert closed is not None
        assert (closed.state, closed.probe_error) == ("closed", None)
        assert daytona.list() == [], "the probe made no sandbox"
    finally:
        store.close()
