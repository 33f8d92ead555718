"""The egress gateway from inside a real session, through Hermes's terminal tool: only the
destination the operator allowlisted answers; the metadata address, a private address, the
host's loopback services and an internet name do not; each refusal is in the session's
gateway log (``compute sessions logs``) with its run id."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hermes_world import MODEL_KEY, World, destroy_all, make_world

from computerouter.domain.events import AgentEvent, ApprovalRequested, RunCompleted, SessionReady
from computerouter.domain.logs import GATEWAY_LOG
from computerouter.providers.local import probe
from computerouter.standin import StandinModel

TARGET_HOST = "127.0.0.2"
"""The allowlisted test server: host loopback, but not the session's own ``127.0.0.1``
(which the session's ``NO_PROXY`` keeps for its model and MCP routes)."""


@pytest.fixture(scope="module")
def target() -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"allowed-target-says-hello {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((TARGET_HOST, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, target: int) -> Iterator[World]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"Hermes integration needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    with StandinModel(api_key=MODEL_KEY) as model:
        # The operator allowlists one destination (an address rule may name loopback).
        world = make_world(
            tmp_path_factory.mktemp("gateway-home"),
            model,
            egress_allow=f"{TARGET_HOST}:{target}",
        )
        try:
            yield world
        finally:
            destroy_all(world)


def turn(world: World, text: str) -> list[AgentEvent]:
    run = world.agents.run(user_id="alice", address=world.address, text=text)
    events = []
    for event in run.events():
        events.append(event)
        if isinstance(event, ApprovalRequested):
            run.respond_approval("once")
    return events


def test_only_the_allowlisted_destination_answers(world: World, target: int) -> None:
    host_model = world.model.port  # the stand-in, on the host's loopback
    w = "-s -m 5 -o /dev/null -w"
    attempts = [
        # through the session's HTTP_PROXY / HTTPS_PROXY, as any program would go
        f"curl -s -m 5 http://{TARGET_HOST}:{target}/hello",
        f"curl {w} 'metadata %{{http_code}}' http://169.254.169.254/latest/meta-data/",
        f"curl {w} 'private %{{http_code}}' http://10.20.30.40/",
        f"curl {w} 'internet %{{http_connect}}' https://example.com/",
        f"curl {w} 'hostpg %{{http_code}}' http://{TARGET_HOST}:5432/",
        # the host's own loopback, asked of the gateway (NO_PROXY keeps 127.0.0.1 local)
        f'curl {w} "loopback-pg %{{http_code}}" --noproxy \'\' -x "$HTTP_PROXY" '
        "http://127.0.0.1:5432/",
        f'curl {w} "loopback-model %{{http_code}}" --noproxy \'\' -x "$HTTP_PROXY" '
        f"http://127.0.0.1:{host_model}/v1/models",
        # around the proxy: the session has no network of its own
        f"curl {w} 'direct %{{http_code}}' --noproxy '*' http://169.254.169.254/",
        "python3 -c \"import urllib.request as u; print('py', u.urlopen('http://"
        f"{TARGET_HOST}:{target}/py', timeout=5).read().decode())\"",
    ]
    command = "; ".join(f"{a}; echo" for a in attempts)
    events = turn(world, f"RUN: {command}")
    last = events[-1]
    assert isinstance(last, RunCompleted), events[-3:]
    result = last.output
    assert "allowed-target-says-hello /hello" in result, result
    assert "py allowed-target-says-hello /py" in result, result
    for tag in ("metadata", "private", "internet", "hostpg", "loopback-pg", "loopback-model"):
        assert f"{tag} 403" in result, (tag, result)
    assert "direct 000" in result, result

    ready = events[0]
    assert isinstance(ready, SessionReady)
    compute = world.agents.compute
    record = compute.get(ready.session_id)
    assert record.instance_id is not None
    lines = [
        json.loads(line.text)
        for line in compute.provider("local").logs(record.instance_id, lines=100)
        if line.source == GATEWAY_LOG
    ]
    refused = {line["destination"]: line for line in lines}
    for destination in (
        "169.254.169.254:80",
        "10.20.30.40:80",
        "example.com:443",
        f"{TARGET_HOST}:5432",
        "127.0.0.1:5432",
        f"127.0.0.1:{host_model}",
    ):
        assert destination in refused, (destination, sorted(refused))
        line = refused[destination]
        assert line["run"] == last.run_id
        assert line["session"] == ready.session_id
        assert line["sandbox"] == "sb1"
        assert str(line["agent"]).startswith("agt")
    assert f"{TARGET_HOST}:{target}" not in refused


def test_each_refusal_names_the_run_in_flight_then(world: World) -> None:
    """The next run's refusals carry its own run id, not the last one's."""
    ids = []
    for _ in range(2):
        events = turn(
            world, "RUN: curl -s -m 5 -o /dev/null -w 'code %{http_code}' http://10.9.8.7/"
        )
        last = events[-1]
        assert isinstance(last, RunCompleted), events[-3:]
        assert "code 403" in last.output
        ids.append(last.run_id)
    ready = events[0]
    assert isinstance(ready, SessionReady)
    record = world.agents.compute.get(ready.session_id)
    assert record.instance_id is not None
    lines = [
        json.loads(line.text)
        for line in world.agents.compute.provider("local").logs(record.instance_id, lines=100)
        if line.source == GATEWAY_LOG
    ]
    runs = [line["run"] for line in lines if line["destination"] == "10.9.8.7:80"]
    assert runs == ids
