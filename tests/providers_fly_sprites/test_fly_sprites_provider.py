"""The fly_sprites provider on the official SDK, against the emulator, with the echo runtime."""

from __future__ import annotations

import uuid

import httpx
import pytest

from computerouter.domain.instances import InstanceState
from computerouter.domain.values import Labels, Resources
from computerouter.emulators.fly_sprites import RunningEmulator
from computerouter.errors import InstanceNotFound, ProviderUnavailable
from computerouter.providers.base import InstanceSpec
from computerouter.providers.fly_sprites.provider import FlySpritesProvider
from computerouter.runtimes.echo import EchoRuntime
from computerouter.runtimes.transport import client_for

pytestmark = pytest.mark.isolation


def _spec(user: str = "alice") -> InstanceSpec:
    session_id = f"ses_{uuid.uuid4().hex[:12]}"
    return InstanceSpec(
        idempotency_key=session_id,
        labels=Labels(session_id=session_id, user_id=user, sandbox_id="box-1", agent_id="a-1"),
        resources=Resources(cpus=1.0, memory_mb=512, pids=128),
        launch=EchoRuntime().launch_spec(session_id=session_id),
        region="lhr",
    )


def _provider(
    emulator: RunningEmulator, token: str | None = None, url_auth: str = "public"
) -> FlySpritesProvider:
    return FlySpritesProvider(
        token=token or emulator.world.token, base_url=emulator.url, url_auth=url_auth
    )


def test_echo_runs_through_the_sprite_url_and_the_lifecycle_keeps_the_workspace(
    emulator: RunningEmulator,
) -> None:
    provider = _provider(emulator, url_auth="sprite")
    spec = _spec()
    instance = provider.create(spec)

    assert instance.state is InstanceState.RUNNING
    assert instance.region == "lhr"
    assert instance.endpoint is not None
    assert dict(instance.endpoint.headers) == {"Authorization": f"Bearer {emulator.world.token}"}
    assert httpx.get(instance.endpoint.address + "/health").status_code == 401
    with client_for(instance.endpoint) as client:
        assert client.get("/health").json()["status"] == "ok"
        answer = client.post(
            "/v1/chat/completions",
            json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert answer.json()["choices"][0]["message"]["content"] == "echo: hi"
        assert client.put("/v1/workspace/notes.txt", content=b"kept").status_code == 200

    again = provider.create(spec)
    assert again.instance_id == instance.instance_id
    assert [i.labels for i in provider.list()] == [spec.labels]

    assert provider.suspend(instance.instance_id).state is InstanceState.SUSPENDED
    resumed = provider.resume(instance.instance_id)
    assert resumed.state is InstanceState.RUNNING

    archived = provider.archive(instance.instance_id)
    assert archived.state is InstanceState.ARCHIVED
    assert provider.archive(instance.instance_id).state is InstanceState.ARCHIVED
    restored = provider.restore(instance.instance_id, spec)
    assert restored.state is InstanceState.RUNNING
    assert restored.archive_retained
    provider.release_archive(instance.instance_id)
    released = provider.get(instance.instance_id)
    assert released is not None
    assert not released.archive_retained
    assert restored.endpoint is not None
    with client_for(restored.endpoint) as client:
        assert client.get("/v1/workspace/notes.txt").content == b"kept"

    assert provider.exec(instance.instance_id, ["echo", "hi"]).stdout == "hi\n"
    assert any(
        "echo runtime listening" in line.text for line in provider.logs(instance.instance_id)
    )

    provider.destroy(instance.instance_id)
    provider.destroy(instance.instance_id)
    assert provider.get(instance.instance_id) is None
    assert provider.list() == []
    assert httpx.get(f"{emulator.url}/_admin/unimplemented").json() == []


def test_unknown_instances_and_a_wrong_token(emulator: RunningEmulator) -> None:
    provider = _provider(emulator)
    assert provider.get("cr-never-made") is None
    with pytest.raises(InstanceNotFound):
        provider.suspend("cr-never-made")
    with pytest.raises(ProviderUnavailable, match="token refused") as refused:
        _provider(emulator, token="wrong").create(_spec())
    assert not refused.value.retryable
    assert emulator.world.sprites == {}


def test_capacity_and_rate_limits_carry_retry_after(emulator: RunningEmulator) -> None:
    provider = _provider(emulator)
    httpx.post(
        f"{emulator.url}/_admin/faults",
        json={
            "method": "POST",
            "path": "/v1/sprites",
            "status": 429,
            "error": "sprite_creation_rate_limited",
            "retry_after_s": 9,
        },
    )
    with pytest.raises(ProviderUnavailable, match="rate limited") as limited:
        provider.create(_spec())
    assert limited.value.retryable
    assert limited.value.retry_after_s == 9.0
    assert emulator.world.sprites == {}
