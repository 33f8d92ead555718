"""The Sprites health probe against the emulator, through the real SDK: one list call the
emulator answers; an injected fault fails it with the right ``retryable``; cleared, it passes
and the lifecycle's probe closes the circuit without a user's request."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from computerouter.compute.probes import probe_once
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.emulators.fly_sprites import RunningEmulator
from computerouter.errors import ProviderError
from computerouter.providers.base import HealthProbe
from computerouter.providers.fly_sprites.provider import FlySpritesProvider
from computerouter.runtimes.echo import EchoRuntime
from computerouter.store import open_store
from computerouter.testing import FakeClock

pytestmark = pytest.mark.isolation


def _fault(emulator: RunningEmulator, **fault: object) -> None:
    assert httpx.post(f"{emulator.url}/_admin/faults", json=fault).status_code == 200


def _provider(emulator: RunningEmulator) -> FlySpritesProvider:
    return FlySpritesProvider(token=emulator.world.token, base_url=emulator.url, timeout_s=0.5)


def _no_unimplemented(emulator: RunningEmulator) -> None:
    assert httpx.get(f"{emulator.url}/_admin/unimplemented").json() == []


@pytest.mark.parametrize(
    ("fault", "retryable", "retry_after"),
    [
        ({"status": 503}, True, None),
        ({"status": 429, "error": "sprite_creation_rate_limited", "retry_after_s": 12}, True, 12.0),
        ({"status": 400, "error": "bad request"}, False, None),
        ({"delay_s": 2.0}, True, None),
    ],
)
def test_a_fault_fails_the_probe_and_clearing_it_lets_it_pass(
    emulator: RunningEmulator, fault: dict[str, object], retryable: bool, retry_after: float | None
) -> None:
    sprites = _provider(emulator)
    assert isinstance(sprites, HealthProbe)
    sprites.probe("ord")
    _fault(emulator, method="GET", path="/v1/sprites", count=-1, **fault)
    with pytest.raises(ProviderError) as caught:
        sprites.probe("ord")
    assert caught.value.retryable is retryable
    assert caught.value.retry_after_s == retry_after
    assert httpx.delete(f"{emulator.url}/_admin/faults").status_code == 200
    sprites.probe("ord")
    _no_unimplemented(emulator)


def test_the_lifecycle_probe_reopens_then_closes_a_sprites_circuit(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    settings = Settings.load(env={}, home=tmp_path, lifecycle_daemon=False)
    store = open_store(settings.effective_database_url)
    clock = FakeClock()
    try:
        router = ComputeRouter(
            store=store,
            providers={"fly_sprites": _provider(emulator)},
            runtimes={"echo": EchoRuntime()},
            settings=settings,
            clock=clock,
        )
        router.health.failed("fly_sprites", now=clock.now(), region="ord", error="503")
        clock.advance(settings.provider_cooldown_s + 1)
        _fault(emulator, method="GET", path="/v1/sprites", status=503, count=-1)
        report = probe_once(router)
        assert report.circuits_reopened == ["fly_sprites/ord"]
        # Every other region's closed circuit was probed too, and opened on the outage.
        assert "fly_sprites/iad" in report.circuits_opened
        reopened = router.health.store.get("fly_sprites", "ord")
        assert reopened is not None
        assert reopened.cooldown_s == 2 * settings.provider_cooldown_s
        assert httpx.delete(f"{emulator.url}/_admin/faults").status_code == 200
        clock.advance(2 * settings.provider_cooldown_s + 1)
        assert "fly_sprites/ord" in probe_once(router).circuits_closed
        closed = router.health.store.get("fly_sprites", "ord")
        assert closed is not None
        assert (closed.state, closed.probe_error) == ("closed", None)
        assert emulator.world.sprites == {}, "the probe made no sprite"
        _no_unimplemented(emulator)
    finally:
        store.close()
