"""Sprites reach the outside through the router's remote gateway only: the network policy
allows its host alone, and a model call goes out with the key the gateway stamps."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from computerouter.domain.egress import EgressTurn
from computerouter.domain.values import Labels, Resources
from computerouter.emulators.fly_sprites import RunningEmulator, Timings, World, start
from computerouter.providers.base import InstanceSpec
from computerouter.providers.egress.remote import IDENTITY_HEADER, RemoteGateway
from computerouter.providers.fly_sprites.provider import FlySpritesProvider
from computerouter.providers.local import probe
from computerouter.runtimes.transport import client_for
from computerouter.testing.gateway_world import (
    CALLOUT_MODEL_PORT,
    RecordingUpstream,
    callout_launch,
)

pytestmark = pytest.mark.isolation

TOKEN = "gateway-token"
SECRET = "sk-upstream-" + uuid.uuid4().hex


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[RunningEmulator, RemoteGateway]]:
    if probe().gaps():
        pytest.skip("the emulator backs sprites with local sessions")
    with RemoteGateway(log_path=tmp_path / "gateway.log") as gateway:
        emulated = World(
            root=tmp_path / "sprites",
            token=TOKEN,
            timings=Timings(speed=10.0),
            upstreams=(f"http://{gateway.address.hostport}",),
        )
        emulator = start(emulated)
        try:
            yield emulator, gateway
        finally:
            emulator.stop()


def test_the_policy_allows_the_gateway_alone_and_the_key_is_stamped_there(
    world: tuple[RunningEmulator, RemoteGateway],
) -> None:
    emulator, gateway = world
    provider = FlySpritesProvider(token=TOKEN, base_url=emulator.url, gateway=gateway)
    with RecordingUpstream() as upstream:
        session_id = f"ses_{uuid.uuid4().hex[:20]}"
        spec = InstanceSpec(
            idempotency_key=session_id,
            labels=Labels(session_id=session_id, user_id="u1", sandbox_id="sb1"),
            resources=Resources(cpus=1.0, memory_mb=1024),
            launch=callout_launch(upstream.url + "/v1"),
        )
        instance = provider.create(spec)
        try:
            sprite = emulator.world.sprites[instance.instance_id]
            assert sprite.policy == [{"domain": gateway.address.host, "action": "allow"}]

            provider.configure_egress(
                instance.instance_id,
                "model",
                EgressTurn(
                    upstream=upstream.url + "/v1", headers=(("Authorization", f"Bearer {SECRET}"),)
                ),
            )
            headers = dict(
                provider.issue_identity(
                    instance.instance_id,
                    run_id="run-1",
                    labels=(("run", "run-1"),),
                    expires_at=time.time() + 60,
                )
            )
            assert instance.endpoint is not None
            call = {"port": CALLOUT_MODEL_PORT, "path": "/v1/chat/completions", "body": {}}
            with client_for(instance.endpoint) as client:
                answer = client.post("/call", json=call, headers=headers).json()
                assert answer["status"] == 200, answer
                assert upstream.seen[-1][1]["authorization"] == f"Bearer {SECRET}"

                provider.revoke_identity(instance.instance_id, "run-1", reason="its run ended")
                assert client.post("/call", json=call).json()["status"] == 407

            env = provider.exec(instance.instance_id, ["sh", "-c", "cat /proc/[0-9]*/environ"])
            assert SECRET not in env.stdout
            assert headers[IDENTITY_HEADER] not in env.stdout
        finally:
            provider.destroy(instance.instance_id)
