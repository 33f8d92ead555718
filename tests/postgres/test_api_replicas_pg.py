"""Acceptance (replicas): two ``computerouter serve`` processes on one PostgreSQL behave as one.
A Hermes run started on replica A is streamed (SSE, resumable) and cancelled through replica
B; it ends cancelled on A, its events on B are A's, and it is billed once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.providers.local import probe
from computerouter.standin import StandinModel

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(600)]

CLI = [sys.executable, "-m", "computerouter"]
IMAGES = Path(os.environ.get("COMPUTEROUTER_TEST_IMAGES", "/var/cache/computerouter-images"))
KEY = "sk-standin-replicas"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextmanager
def _serve(env: dict[str, str], log: Path) -> Iterator[str]:
    port = _free_port()
    with log.open("w") as err:
        server = subprocess.Popen(
            [*CLI, "serve", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/openapi.json")
                break
            except httpx.TransportError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(30)


@pytest.fixture
def replicas(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, str, str, dict[str, str]]]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"Hermes on local needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    home = tmp_path / "home"  # one machine: both replicas share the local sessions' root
    home.mkdir()
    with ExitStack() as stack:
        model = stack.enter_context(StandinModel(api_key=KEY, slow_seconds=30))
        env = {
            **os.environ,
            "COMPUTEROUTER_HOME": str(home),
            "COMPUTEROUTER_DATABASE_URL": pg_url,
            "COMPUTEROUTER_IMAGES_DIR": str(IMAGES),
            "COMPUTEROUTER_MODEL_BASE_URL": model.base_url,
            "COMPUTEROUTER_MODEL_API_KEY": KEY,
            "COMPUTEROUTER_TURN_TIMEOUT_S": "60",
            "COMPUTEROUTER_LIFECYCLE_DAEMON": "false",
        }
        prompt = home / "prompt.txt"
        prompt.write_text("You are the support agent of a replica test.")
        _cli(env, "credits", "grant", "--user", "alice", "25")
        _cli(
            env, "agent", "create", "support", "--user", "alice", "--sandbox", "sb1",
            "--compute-provider", "local", "--prompt-file", str(prompt),
        )  # fmt: skip
        key = json.loads(_cli(env, "keys", "create", "--user", "alice", "--json"))["secret"]
        a = stack.enter_context(_serve(env, tmp_path / "a.log"))
        b = stack.enter_context(_serve(env, tmp_path / "b.log"))
        try:
            yield a, b, key, env
        finally:
            stack.close()
            settings = Settings.load(
                env={k: v for k, v in env.items() if k.startswith("COMPUTEROUTER_")}
            )
            compute = open_router(settings)
            for session in compute.store.sessions.list():
                if session.state.value not in ("destroyed", "failed"):
                    compute.destroy(session.id)
            compute.store.close()


def _sse(response: httpx.Response) -> Iterator[tuple[int, str, dict[str, object]]]:
    ident, kind = 0, ""
    for line in response.iter_lines():
        if line.startswith("id: "):
            ident = int(line[4:])
        elif line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            yield ident, kind, json.loads(line[6:])


def test_a_run_started_on_one_replica_is_streamed_and_cancelled_on_the_other(
    replicas: tuple[str, str, str, dict[str, str]],
) -> None:
    a, b, key, env = replicas
    auth = {"Authorization": f"Bearer {key}"}
    started = httpx.post(
        f"{a}/v1/runs",
        json={"agent": "sb1/support", "input": "SLOW please, take your time"},
        headers=auth,
        timeout=120,
    )
    assert started.status_code == 201, started.text
    run_id = started.json()["run_id"]

    seen: list[tuple[int, str]] = []
    with httpx.stream("GET", f"{b}/v1/runs/{run_id}/events", headers=auth, timeout=90) as stream:
        assert stream.status_code == 200
        for ident, kind, body in _sse(stream):
            assert body["run_id"] == run_id
            seen.append((ident, kind))
            if kind == "run.started":
                cancel = httpx.post(f"{b}/v1/runs/{run_id}/cancel", headers=auth, timeout=30)
                assert cancel.status_code == 202, cancel.text
    kinds = [kind for _, kind in seen]
    assert kinds[0] == "session.ready" or "run.started" in kinds
    assert kinds[-1] == "run.cancelled", kinds
    assert [ident for ident, _ in seen] == list(range(1, len(seen) + 1))

    # The run's own server agrees, and a resumed stream on B gives only what came after.
    on_a = httpx.get(f"{a}/v1/runs/{run_id}", headers=auth, timeout=30).json()
    assert on_a["state"] == "cancelled"
    with httpx.stream(
        "GET",
        f"{b}/v1/runs/{run_id}/events",
        headers={**auth, "Last-Event-ID": str(len(seen) - 1)},
        timeout=30,
    ) as resumed:
        assert [kind for _, kind, _ in _sse(resumed)] == ["run.cancelled"]

    # Billed once: the run's two ledger rows, whichever replica is asked.
    usage = json.loads(_cli(env, "usage", "run", run_id, "--json"))
    assert usage["token"] is not None
    assert usage["compute"] is not None


def test_another_tenant_cannot_stream_or_cancel_it_through_the_other_replica(
    replicas: tuple[str, str, str, dict[str, str]],
) -> None:
    a, b, key, env = replicas
    other = json.loads(_cli(env, "keys", "create", "--user", "mallory", "--json"))["secret"]
    started = httpx.post(
        f"{a}/v1/runs",
        json={"agent": "sb1/support", "input": "hello"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    )
    run_id = started.json()["run_id"]
    theirs = {"Authorization": f"Bearer {other}"}
    assert httpx.get(f"{b}/v1/runs/{run_id}/events", headers=theirs).status_code == 404
    assert httpx.post(f"{b}/v1/runs/{run_id}/cancel", headers=theirs).status_code == 404
