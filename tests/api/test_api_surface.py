"""The published surface: OpenAPI at /openapi.json with every endpoint and the error shape;
request ids on every response; per-key rate limits with Retry-After; ``serve`` and ``keys``."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
from served import CLI, serve

from computerouter.api import create_app
from computerouter.domain.events import RunCompleted
from computerouter.secrets.api_keys import MAX_CACHE_TTL_S
from computerouter.testing.live_api import Api, LiveServer


def test_openapi_documents_every_endpoint_and_the_error_shape(api: Api) -> None:
    spec = httpx.get(f"{api.url}/openapi.json").json()
    paths = spec["paths"]
    for path, method in [
        ("/v1/sandboxes/{sandbox_id}/agents", "post"),
        ("/v1/sandboxes/{sandbox_id}/agents/{slug}", "patch"),
        ("/v1/agents", "get"),
        ("/v1/runs", "post"),
        ("/v1/runs", "get"),
        ("/v1/runs/{run_id}", "get"),
        ("/v1/runs/{run_id}/summary", "get"),
        ("/v1/runs/{run_id}/events", "get"),
        ("/v1/runs/{run_id}/cancel", "post"),
        ("/v1/runs/{run_id}/approval", "post"),
        ("/v1/compute/sessions", "get"),
        ("/v1/compute/sessions/{session_id}/suspend", "post"),
        ("/v1/compute/sessions/{session_id}", "delete"),
        ("/v1/usage", "get"),
        ("/v1/credits", "get"),
        ("/v1/admin/credits/audit", "get"),
        ("/v1/admin/pauses/history", "get"),
        ("/v1/providers/report", "get"),
        ("/v1/chat/completions", "post"),
        ("/v1/models", "get"),
    ]:
        operation = paths[path][method]
        assert operation["responses"]["4XX"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }, path
    assert "ErrorBody" in spec["components"]["schemas"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_every_response_carries_a_request_id(api: Api) -> None:
    auth = {"Authorization": f"Bearer {api.alice}"}
    ok = httpx.get(f"{api.url}/v1/agents", headers=auth)
    missing = httpx.get(f"{api.url}/v1/nothing-here", headers=auth)
    given = httpx.get(f"{api.url}/v1/agents", headers={**auth, "X-Request-Id": "trace-42"})
    assert ok.headers["x-request-id"].startswith("req_")
    assert missing.status_code == 404
    assert missing.json()["error"]["request_id"] == missing.headers["x-request-id"]
    assert given.headers["x-request-id"] == "trace-42"
    api.client(api.alice).agents.create("sb1", slug="support", prompt="Be kind.")
    with httpx.stream(
        "POST",
        f"{api.url}/v1/runs",
        headers={**auth, "Accept": "text/event-stream"},
        json={"agent": "sb1/support", "input": "hi"},
    ) as stream:
        assert stream.headers["x-request-id"].startswith("req_")
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = list(stream.iter_lines())
    data = [json.loads(x[6:]) for x in lines if x.startswith("data: ")]
    assert data[-1]["type"] == RunCompleted.type


def test_a_key_over_its_rate_gets_429_with_retry_after(api: Api) -> None:
    settings = api.settings.__class__.load(
        env={}, home=api.settings.home, api_rate_per_s=1, api_rate_burst=3
    )
    server = LiveServer(create_app(agents=api.agents, settings=settings, keys=api.keys))
    url = server.start()
    try:
        auth = {"Authorization": f"Bearer {api.alice}"}
        codes = [httpx.get(f"{url}/v1/agents", headers=auth).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = httpx.get(f"{url}/v1/agents", headers=auth)
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        other = httpx.get(f"{url}/v1/agents", headers={"Authorization": f"Bearer {api.bob}"})
        assert other.status_code == 200
    finally:
        server.stop()


def test_keys_cli_and_serve_command(tmp_path: Path) -> None:
    env = {**os.environ, "COMPUTEROUTER_HOME": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    made = run("keys", "create", "--user", "alice", "--name", "laptop", "--json")
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    secret = created["secret"]
    listed = run("keys", "list", "--json")
    assert [k["id"] for k in json.loads(listed.stdout)] == [created["key"]["id"]]
    assert secret not in listed.stdout
    assert secret not in (tmp_path / "computerouter.db").read_bytes().decode("latin-1")
    for args, code in [
        (("keys", "revoke", "key_nope"), 3),
        (("keys", "create", "--user", "not a user"), 2),
        (("serve", "--port", "70000"), 2),
    ]:
        bad = run(*args)
        assert bad.returncode == code, (args, bad.stderr)
        assert bad.stderr.strip().startswith("error:"), bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert len(json.loads(run("keys", "list", "--json").stdout)) == 1

    with serve({**env, "COMPUTEROUTER_MODEL_BASE_URL": "http://127.0.0.1:9/v1"}) as served:
        auth = {"Authorization": f"Bearer {secret}"}
        reply = httpx.get(f"{served.url}/v1/models", headers=auth)
        assert reply.status_code == 200
        assert reply.json() == {"object": "list", "data": []}
        revoked = run("keys", "revoke", created["key"]["id"])
        assert revoked.returncode == 0, revoked.stderr
        # Revoked by another process: the server may remember the key for the cache's TTL.
        time.sleep(MAX_CACHE_TTL_S)
        assert httpx.get(f"{served.url}/v1/models", headers=auth).status_code == 401
    assert f"computerouter API on {served.url}" in served.stderr[0]
