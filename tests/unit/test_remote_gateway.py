"""The router's remote gateway on its own: a turn identity serves its session's routes until
it expires, and a request for another session's route or none is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from computerouter.domain.egress import EgressTurn
from computerouter.domain.values import EgressRoute
from computerouter.errors import ConfigError
from computerouter.providers.egress.remote import IDENTITY_HEADER, ROUTE_HEADER, RemoteGateway
from computerouter.testing.gateway_world import RecordingUpstream


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    with RecordingUpstream() as served:
        yield served


def _post(gateway: RemoteGateway, identity: str, route: str = "model") -> httpx.Response:
    return httpx.post(
        f"http://{gateway.address.hostport}/v1/chat/completions",
        json={"model": "m"},
        headers={IDENTITY_HEADER: identity, ROUTE_HEADER: route},
        timeout=10,
    )


def test_an_identity_serves_until_its_expiry_then_is_refused(
    tmp_path: Path, upstream: RecordingUpstream
) -> None:
    clock = Clock()
    log = tmp_path / "gateway.log"
    with RemoteGateway(log_path=log, clock=clock) as gateway:
        for instance in ("sandbox-a", "sandbox-b"):
            gateway.register(
                instance, (EgressRoute(name="model", upstream=upstream.url + "/v1", prefix="/v1"),)
            )
        gateway.configure(
            "sandbox-a",
            "model",
            EgressTurn(upstream=upstream.url + "/v1", headers=(("Authorization", "Bearer k-a"),)),
        )
        identity = gateway.issue(
            "sandbox-a", run_id="run-1", labels=(("run", "run-1"),), expires_at=clock.now + 30
        )
        other = gateway.issue(
            "sandbox-b", run_id="run-9", labels=(("run", "run-9"),), expires_at=clock.now + 30
        )

        assert _post(gateway, identity).status_code == 200
        assert upstream.seen[-1][1]["authorization"] == "Bearer k-a"
        assert _post(gateway, identity, route="mcp").status_code == 403
        assert _post(gateway, other).status_code == 200  # b's own route, without a's key
        assert "authorization" not in upstream.seen[-1][1]

        clock.now += 31
        refused = _post(gateway, identity)

    assert refused.status_code == 407
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[-1]["run"] == "run-1"
    assert "expired" in lines[-1]["reason"]
    assert lines[-2]["reason"] == "no egress route 'mcp' here"


def test_bad_gateway_settings_say_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match="gateway_listen"):
        RemoteGateway(listen="ftp://host:1")
    with pytest.raises(ConfigError, match="gateway_public_url"):
        RemoteGateway(public_url="127.0.0.1:notaport")


def test_a_run_that_ends_before_an_earlier_one_leaves_the_identity_to_it(
    tmp_path: Path, upstream: RecordingUpstream
) -> None:
    clock = Clock()
    log = tmp_path / "gateway.log"
    with RemoteGateway(log_path=log, clock=clock) as gateway:
        gateway.register("sb", (EgressRoute(name="model", upstream=upstream.url + "/v1"),))
        first = gateway.issue("sb", run_id="run-a", labels=(("run", "run-a"),), expires_at=1100)
        second = gateway.issue("sb", run_id="run-b", labels=(("run", "run-b"),), expires_at=1100)
        assert _post(gateway, first).status_code == 407  # rotated out by run-b's turn

        # run-b ends while run-a is still in flight: the bridge holds run-b's identity.
        gateway.revoke("sb", "run-b", reason="its run ended", active=("run-a",))
        assert _post(gateway, second).status_code == 200
        gateway.revoke("sb", "run-a", reason="its run ended", active=())
        assert _post(gateway, second).status_code == 407

    last = json.loads(log.read_text().splitlines()[-1])
    assert last["run"] == "run-a"
    assert last["reason"].endswith("its run ended")
