"""Faults injected at the emulator reach the router as the right error, and the state machine
behaves as the vendor's: idle sprites go warm then cold, a cold wake restarts Services only."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from sprites import SpritesClient

from computerouter.domain.instances import InstanceState
from computerouter.domain.values import Labels, Resources
from computerouter.emulators.fly_sprites import RunningEmulator
from computerouter.errors import ProviderError, ProviderUnavailable
from computerouter.providers.base import InstanceSpec
from computerouter.providers.fly_sprites.provider import FlySpritesProvider
from computerouter.runtimes.echo import EchoRuntime

pytestmark = pytest.mark.isolation


def _spec(region: str = "") -> InstanceSpec:
    session_id = f"ses_{uuid.uuid4().hex[:12]}"
    return InstanceSpec(
        idempotency_key=session_id,
        labels=Labels(session_id=session_id, user_id="u", sandbox_id="s"),
        resources=Resources(cpus=1.0, memory_mb=512, pids=128),
        launch=EchoRuntime().launch_spec(session_id=session_id),
        region=region,
    )


def _fault(emulator: RunningEmulator, **fault: object) -> None:
    assert httpx.post(f"{emulator.url}/_admin/faults", json=fault).status_code == 200


def _provider(emulator: RunningEmulator, timeout_s: float = 30.0) -> FlySpritesProvider:
    return FlySpritesProvider(
        token=emulator.world.token, base_url=emulator.url, timeout_s=timeout_s
    )


@pytest.mark.parametrize(
    ("fault", "kind", "retryable", "retry_after"),
    [
        ({"status": 503}, ProviderUnavailable, True, None),
        ({"status": 500, "error": "internal"}, ProviderUnavailable, True, None),
        (
            {"status": 429, "error": "concurrent_sprite_limit_exceeded", "retry_after_s": 12},
            ProviderUnavailable,
            True,
            12.0,
        ),
        ({"status": 400, "error": "bad request"}, ProviderError, False, None),
        ({"delay_s": 2.0}, ProviderUnavailable, True, None),
    ],
)
def test_each_fault_class_maps_to_its_error(
    emulator: RunningEmulator,
    fault: dict[str, object],
    kind: type[ProviderError],
    retryable: bool,
    retry_after: float | None,
) -> None:
    _fault(emulator, method="GET", path="/v1/sprites", **fault)

    with pytest.raises(ProviderError) as caught:
        _provider(emulator, timeout_s=0.5).list()

    assert type(caught.value) is kind
    assert caught.value.retryable is retryable
    assert caught.value.retry_after_s == retry_after
    assert "\n" not in str(caught.value)


def test_slowness_below_the_timeout_only_delays(emulator: RunningEmulator) -> None:
    _fault(emulator, method="GET", path="/v1/sprites", delay_s=0.2)
    assert list(_provider(emulator).list()) == []


def test_the_concurrent_limit_refuses_a_create_and_leaves_nothing(
    emulator: RunningEmulator,
) -> None:
    emulator.world.max_sprites = 0
    with pytest.raises(ProviderUnavailable, match="concurrent sprite limit") as caught:
        _provider(emulator).create(_spec())
    assert caught.value.retry_after_s == 30.0
    assert emulator.world.sprites == {}


def test_an_unknown_region_is_one_line_and_nothing_is_made(emulator: RunningEmulator) -> None:
    with pytest.raises(ProviderError, match="invalid region") as caught:
        _provider(emulator).create(_spec(region="mars"))
    assert not caught.value.retryable
    assert "\n" not in str(caught.value)
    assert emulator.world.sprites == {}


def test_a_vanished_sprite_is_gone_from_get_and_list(emulator: RunningEmulator) -> None:
    provider = _provider(emulator)
    instance = provider.create(_spec())
    assert httpx.post(f"{emulator.url}/_admin/sprites/{instance.instance_id}/vanish").json() == {
        "vanished": True
    }
    assert provider.get(instance.instance_id) is None
    assert provider.list() == []


def _status_becomes(client: SpritesClient, name: str, status: str) -> None:
    deadline = time.monotonic() + 60  # a bound on a broken emulator, not a timing assertion
    while client.get_sprite(name).status != status:
        assert time.monotonic() < deadline, f"{name} never became {status}"
        time.sleep(0.05)


def test_idle_sprites_go_warm_then_cold_and_a_cold_wake_restarts_services_only(
    emulator: RunningEmulator,
) -> None:
    emulator.world.timings = type(emulator.world.timings)(
        idle_to_warm_s=0.5, warm_to_cold_s=0.5, speed=10.0
    )
    provider = _provider(emulator)
    instance = provider.create(_spec())
    client = SpritesClient(emulator.world.token, base_url=emulator.url)
    sprite = client.sprite(instance.instance_id)
    started = sprite.run("sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!", capture_output=True)
    hand_started = (started.stdout or b"").decode().strip()
    assert hand_started.isdigit()

    _status_becomes(client, instance.instance_id, "warm")
    _status_becomes(client, instance.instance_id, "cold")
    woken = provider.exec(instance.instance_id, ["sh", "-c", f"kill -0 {hand_started}; echo $?"])

    assert woken.stdout.strip() != "0", "a hand-started process does not survive a cold sprite"
    observed = provider.get(instance.instance_id)
    assert observed is not None
    assert observed.state is InstanceState.RUNNING
    assert observed.endpoint is not None
    health = httpx.get(observed.endpoint.address + "/health", timeout=10)
    assert health.status_code == 200, "the runtime Service came back with the wake"
