"""Acceptance (OpenAI-compatible endpoint, real Hermes): the official ``openai`` package,
unmodified, with only ``base_url`` and ``api_key`` set, runs turns of a Hermes agent through a
live ``computerouter serve``, streaming and not; each turn shows in ``computerouter usage``
with its two rows."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest
from hermes_world import IMAGES, MODEL_KEY

from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.providers.local import probe
from computerouter.standin import StandinModel

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]

CLI = [sys.executable, "-m", "computerouter"]


@dataclass(kw_only=True)
class Served:
    url: str
    key: str
    env: dict[str, str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*CLI, *args], env=self.env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        return done


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"Hermes integration needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    home = tmp_path_factory.mktemp("api-hermes-home")
    with StandinModel(api_key=MODEL_KEY) as model:
        env = {
            **os.environ,
            "COMPUTEROUTER_HOME": str(home),
            "COMPUTEROUTER_IMAGES_DIR": str(IMAGES),
            "COMPUTEROUTER_MODEL_BASE_URL": model.base_url,
            "COMPUTEROUTER_MODEL_API_KEY": MODEL_KEY,
            "COMPUTEROUTER_MODEL_NAME": "standin-model",
            "COMPUTEROUTER_TURN_TIMEOUT_S": "60",
        }
        setup = Served(url="", key="", env=env)
        prompt = home / "prompt.txt"
        prompt.write_text("You are the support agent of an API test.")
        setup.cli("credits", "grant", "--user", "alice", "25")
        setup.cli(
            "agent", "create", "support", "--user", "alice", "--sandbox", "sb1",
            "--backend", "hermes", "--compute-provider", "local", "--prompt-file", str(prompt),
        )  # fmt: skip
        key = json.loads(setup.cli("keys", "create", "--user", "alice", "--json").stdout)["secret"]
        port = _free_port()
        server = subprocess.Popen(
            [*CLI, "serve", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(home / "serve.log").open("w"),
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{url}/openapi.json")
                    break
                except httpx.TransportError:
                    assert server.poll() is None, (home / "serve.log").read_text()
                    assert time.monotonic() < deadline, "serve did not start"
                    time.sleep(0.1)
            yield Served(url=url, key=key, env=env)
        finally:
            server.terminate()
            server.wait(30)
            settings = Settings.load(
                env={k: v for k, v in env.items() if k.startswith("COMPUTEROUTER_")}
            )
            compute = open_router(settings)
            for session in compute.store.sessions.list():
                if session.state.value not in ("destroyed", "failed"):
                    compute.destroy(session.id)
            compute.store.close()


def usage_of(served: Served, run_id: str) -> dict[str, object]:
    return dict(json.loads(served.cli("usage", "run", run_id, "--json").stdout))


def test_openai_client_streams_and_non_streams_a_hermes_agent_and_each_turn_is_billed(
    served: Served,
) -> None:
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=served.key)
    assert [m.id for m in client.models.list().data] == ["sb1/support"]

    raw = client.chat.completions.with_raw_response.create(
        model="sb1/support",
        messages=[
            {"role": "user", "content": "My name is Ada. Remember that the launch code is blue-42."}
        ],
    )
    first = raw.parse()
    first_run = raw.headers["x-computerouter-run-id"]
    assert "stand-in" in (first.choices[0].message.content or "")
    assert first.usage is not None
    assert first.usage.prompt_tokens > 0

    stream = client.chat.completions.create(
        model="sb1/support",
        messages=[
            {
                "role": "user",
                "content": "My name is Ada. Remember that the launch code is blue-42.",
            },
            {"role": "assistant", "content": first.choices[0].message.content or ""},
            {"role": "user", "content": "What do you remember?"},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == "I remember: Ada; the launch code is blue-42."
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens > 0
    second_run = chunks[0].id.removeprefix("chatcmpl-")

    for run_id, usage in ((first_run, first.usage), (second_run, chunks[-1].usage)):
        bill = usage_of(served, run_id)
        token, compute = bill["token"], bill["compute"]
        assert isinstance(token, dict)
        assert isinstance(compute, dict)
        assert (token["kind"], compute["kind"]) == ("token", "compute")
        assert token["input_tokens"] == usage.prompt_tokens
        assert token["output_tokens"] == usage.completion_tokens
        assert token["amount_micro"] > 0
        assert compute["quantity_ms"] > 0
    lines = json.loads(served.cli("usage", "--user", "alice", "--json").stdout)["lines"]
    assert sum(line["runs"] for line in lines) == 2
