"""Daytona sandboxes reach the outside through the router's remote gateway only, proving who
they are with a turn identity that comes with the router's calls and rotates every turn."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from computerouter.domain.egress import EgressTurn
from computerouter.domain.instances import Instance
from computerouter.domain.values import Labels, Resources
from computerouter.emulators.daytona import EmulatorServer
from computerouter.providers.base import EgressControl, InstanceSpec, TurnIdentity
from computerouter.providers.daytona.provider import DaytonaProvider
from computerouter.providers.egress.remote import IDENTITY_HEADER, ROUTE_HEADER, RemoteGateway
from computerouter.runtimes.transport import client_for
from computerouter.testing.gateway_world import (
    CALLOUT_MODEL_PORT,
    RecordingUpstream,
    callout_launch,
)

pytestmark = pytest.mark.isolation

SECRET = "sk-upstream-" + uuid.uuid4().hex
CALL = {"port": CALLOUT_MODEL_PORT, "path": "/v1/chat/completions", "body": {"model": "m"}}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RemoteGateway]:
    with RemoteGateway(log_path=tmp_path / "gateway.log") as served:
        yield served


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    with RecordingUpstream() as served:
        yield served


@pytest.fixture
def provider(emulator: EmulatorServer, gateway: RemoteGateway) -> Iterator[DaytonaProvider]:
    made = DaytonaProvider(
        api_url=emulator.api_url, api_key="emulator-key", target="us", gateway=gateway
    )
    try:
        yield made
    finally:
        for instance in made.list():
            made.destroy(instance.instance_id)


def _spec(upstream: RecordingUpstream) -> InstanceSpec:
    session_id = f"ses_{uuid.uuid4().hex[:20]}"
    return InstanceSpec(
        idempotency_key=session_id,
        labels=Labels(session_id=session_id, user_id="u1", sandbox_id="sb1"),
        resources=Resources(cpus=1.0, memory_mb=1024),
        launch=callout_launch(upstream.url + "/v1"),
    )


def _turn(
    provider: DaytonaProvider, instance: Instance, run_id: str, upstream: RecordingUpstream
) -> dict[str, str]:
    """What the router does before a turn: configure the routes, mint the identity."""
    labels = (("session", instance.labels.session_id), ("agent", "agent-1"), ("run", run_id))
    provider.configure_egress(
        instance.instance_id,
        "model",
        EgressTurn(
            upstream=f"{upstream.url}/v1",
            headers=(("Authorization", f"Bearer {SECRET}"),),
        ),
    )
    provider.configure_egress(
        instance.instance_id, "gateway", EgressTurn(upstream="", allow=(), labels=labels)
    )
    return dict(
        provider.issue_identity(
            instance.instance_id, run_id=run_id, labels=labels, expires_at=time.time() + 60
        )
    )


def _call(instance: Instance, headers: dict[str, str], what: str = "/call") -> dict[str, object]:
    assert instance.endpoint is not None
    with client_for(instance.endpoint) as client:
        body = CALL if what == "/call" else {"url": "http://example.com/"}
        answer = client.post(what, json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _log(gateway_log: Path) -> list[dict[str, str]]:
    if not gateway_log.exists():
        return []
    return [json.loads(line) for line in gateway_log.read_text().splitlines()]


@pytest.fixture
def live(
    provider: DaytonaProvider, upstream: RecordingUpstream, emulator: EmulatorServer
) -> Instance:
    return provider.create(_spec(upstream))


def test_the_allow_list_names_only_the_gateway(
    live: Instance, emulator: EmulatorServer, gateway: RemoteGateway, upstream: RecordingUpstream
) -> None:
    sandbox = emulator.emulator.sandboxes.get(live.instance_id)
    assert sandbox.network_allow_list == f"{gateway.address.host}/32"
    routes = {k: v for k, v in sandbox.env.items() if k.startswith("COMPUTEROUTER_EGRESS_")}
    assert routes.pop("COMPUTEROUTER_EGRESS_VIA") == "model,gateway"
    assert set(routes.values()) == {gateway.address.hostport}
    assert str(upstream.port) not in json.dumps(sandbox.env)


def test_a_model_call_goes_out_with_the_key_the_gateway_stamps(
    provider: DaytonaProvider, live: Instance, upstream: RecordingUpstream
) -> None:
    assert isinstance(provider, EgressControl)
    assert isinstance(provider, TurnIdentity)
    headers = _turn(provider, live, "run-1", upstream)

    answer = _call(live, headers)

    assert answer["status"] == 200, answer
    path, seen = upstream.seen[-1]
    assert path == "/v1/chat/completions"
    assert seen["authorization"] == f"Bearer {SECRET}"  # not the sandbox's own "sandbox"
    assert IDENTITY_HEADER.lower() not in seen
    assert ROUTE_HEADER.lower() not in seen
    # The runtime never saw the identity either: the bridge took it off the call.
    assert live.endpoint is not None
    with client_for(live.endpoint) as client:
        shown = client.get("/health", headers=headers).json()
    assert IDENTITY_HEADER.lower() not in shown["headers"]
    # Neither the key nor the identity is in any environment or file of the sandbox.
    identity = headers[IDENTITY_HEADER]
    for secret in (SECRET, identity):
        env = provider.exec(
            live.instance_id, ["sh", "-c", "cat /proc/[0-9]*/environ 2>/dev/null; true"]
        )
        assert env.stdout
        assert secret not in env.stdout
        found = provider.exec(live.instance_id, ["grep", "-rlF", secret, "/workspace", "/tmp"])
        assert found.exit_code == 1, found.stdout


def test_an_identity_stops_serving_at_the_next_turn_the_run_end_and_a_cancel(
    provider: DaytonaProvider,
    live: Instance,
    gateway: RemoteGateway,
    upstream: RecordingUpstream,
    tmp_path: Path,
) -> None:
    first = _turn(provider, live, "run-1", upstream)
    assert _call(live, first)["status"] == 200
    second = _turn(provider, live, "run-2", upstream)

    # Turn 1's identity, replayed during turn 2 straight at the gateway, is refused and logged.
    stale = _to_gateway(gateway, first[IDENTITY_HEADER])
    assert stale.status_code == 407
    assert _log(tmp_path / "gateway.log")[-1]["run"] == "run-1"
    assert "later turn" in _log(tmp_path / "gateway.log")[-1]["reason"]
    assert _call(live, second)["status"] == 200  # the sandbox now holds turn 2's

    provider.revoke_identity(live.instance_id, "run-2", reason="its run ended")
    assert _call(live, {})["status"] == 407  # the bridge still holds it: refused
    assert _to_gateway(gateway, second[IDENTITY_HEADER]).status_code == 407
    assert _log(tmp_path / "gateway.log")[-1]["reason"].endswith("its run ended")

    third = _turn(provider, live, "run-3", upstream)
    assert _call(live, third)["status"] == 200
    provider.revoke_identity(live.instance_id, "run-3", reason="its run was cancelled")
    assert _call(live, {})["status"] == 407
    assert _log(tmp_path / "gateway.log")[-1]["run"] == "run-3"
    assert "cancelled" in _log(tmp_path / "gateway.log")[-1]["reason"]


def test_no_identity_or_a_forged_one_is_refused_and_logged(
    provider: DaytonaProvider,
    live: Instance,
    gateway: RemoteGateway,
    upstream: RecordingUpstream,
    tmp_path: Path,
) -> None:
    _turn(provider, live, "run-1", upstream)
    assert _to_gateway(gateway, "").status_code == 407
    assert _to_gateway(gateway, "gwt_" + uuid.uuid4().hex).status_code == 407
    refused = _log(tmp_path / "gateway.log")[-2:]
    assert [line["reason"] for line in refused] == [
        f"no turn identity ({IDENTITY_HEADER})",
        "unknown turn identity",
    ]
    assert all(line["event"] == "egress.refused" for line in refused)


def test_the_forward_proxy_refuses_and_logs_with_the_run(
    provider: DaytonaProvider, live: Instance, upstream: RecordingUpstream, tmp_path: Path
) -> None:
    headers = _turn(provider, live, "run-7", upstream)
    answer = _call(live, headers, what="/proxy")
    assert answer["status"] == 403
    line = _log(tmp_path / "gateway.log")[-1]
    assert line["destination"] == "example.com:80"
    assert (line["run"], line["agent"], line["session"]) == (
        "run-7",
        "agent-1",
        live.labels.session_id,
    )
    # The session's own logs show it too, as a local session's gateway lines.
    shown = [json.loads(x.text) for x in provider.logs(live.instance_id) if x.source == "gateway"]
    assert shown[-1]["destination"] == "example.com:80"
    assert shown[-1]["run"] == "run-7"


def _to_gateway(gateway: RemoteGateway, identity: str) -> httpx.Response:
    """A model call straight at the gateway, as a sandbox would send it."""
    headers = {ROUTE_HEADER: "model"}
    if identity:
        headers[IDENTITY_HEADER] = identity
    return httpx.post(
        f"http://{gateway.address.hostport}/v1/chat/completions",
        json={"model": "m"},
        headers=headers,
        timeout=10,
    )


def test_a_restarted_control_plane_adopts_a_live_sandbox_on_the_same_gateway_address(
    emulator: EmulatorServer, upstream: RecordingUpstream, tmp_path: Path
) -> None:
    with RemoteGateway(log_path=tmp_path / "first.log") as first:
        before = DaytonaProvider(
            api_url=emulator.api_url, api_key="emulator-key", target="us", gateway=first
        )
        spec = _spec(upstream)
        instance = before.create(spec)
        listen = first.address.hostport
    try:
        with RemoteGateway(listen=listen, log_path=tmp_path / "second.log") as second:
            after = DaytonaProvider(
                api_url=emulator.api_url, api_key="emulator-key", target="us", gateway=second
            )
            assert (
                after.issue_identity(
                    instance.instance_id, run_id="run-1", labels=(), expires_at=time.time() + 60
                )
                == ()
            )  # it knows nothing of the sandbox yet
            after.adopt_egress(instance.instance_id, spec.launch)
            headers = _turn(after, instance, "run-1", upstream)
            assert _call(instance, headers)["status"] == 200
            assert upstream.seen[-1][1]["authorization"] == f"Bearer {SECRET}"
    finally:
        before.destroy(instance.instance_id)
