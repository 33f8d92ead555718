"""An echo agent through the live API over real compute (a real isolated local session running
the echo test runtime): the official ``openai`` package streams and non-streams its turns; a
cancel mid-stream ends the run cancelled and frees the session for the next turn; an HTTP error
inside the runtime reaches the caller as a failed run with a one-line reason."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from computerouter.domain.events import RunFailed
from computerouter.providers.local import probe
from computerouter.runtimes.echo import EchoRuntime
from computerouter.testing.live_api import Api, live_echo_api

pytestmark = [pytest.mark.isolation, pytest.mark.timeout(120)]

AGENT = "sb1/echo"


@pytest.fixture(scope="module")
def echo_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api[EchoRuntime]]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    with live_echo_api(tmp_path_factory.mktemp("echo-api")) as api:
        api.client(api.alice).agents.create(
            "sb1",
            slug="echo",
            prompt="Repeat after me.",
            model_settings={"backend": "echo", "compute_provider": "local"},
        )
        yield api


def openai_client(api: Api[EchoRuntime]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=api.alice, max_retries=0)


def wait_ended(api: Api[EchoRuntime], run_id: str) -> str:
    client = api.client(api.alice)
    deadline = time.monotonic() + 10
    while (state := client.runs.get(run_id).state) in ("pending", "running"):
        assert time.monotonic() < deadline, f"run {run_id} is still {state}"
        time.sleep(0.05)
    return state


def in_flight(api: Api[EchoRuntime]) -> list[str]:
    store = api.agents.compute.store
    return [run.run_id for s in store.sessions.list() for run in store.runs.in_flight(s.id)]


def test_the_openai_client_streams_and_non_streams_an_echo_agent(
    echo_api: Api[EchoRuntime],
) -> None:
    client = openai_client(echo_api)
    assert [m.id for m in client.models.list().data] == [AGENT]

    raw = client.chat.completions.with_raw_response.create(
        model=AGENT, messages=[{"role": "user", "content": "hello agent"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hello agent"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 3
    run_id = raw.headers["x-computerouter-run-id"]
    assert echo_api.client(echo_api.alice).runs.get(run_id).state == "completed"

    stream = client.chat.completions.create(
        model=AGENT,
        messages=[{"role": "user", "content": "stream me please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices]
    assert "".join(p or "" for p in pieces) == "echo: stream me please"
    assert len([p for p in pieces if p]) == 4  # one chunk per word, through the router
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4
    [session] = echo_api.client(echo_api.alice).compute.sessions.list()
    assert (session.runtime, session.provider, session.state) == ("echo", "local", "running")


def test_a_cancel_mid_stream_ends_the_run_cancelled_and_frees_the_session(
    echo_api: Api[EchoRuntime],
) -> None:
    body = {
        "model": AGENT,
        "messages": [{"role": "user", "content": "/slow 1 " + "word " * 30}],
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {echo_api.alice}"}
    url = f"{echo_api.url}/v1/chat/completions"
    with httpx.stream("POST", url, json=body, headers=headers, timeout=20) as response:
        assert response.status_code == 200
        run_id = response.headers["x-computerouter-run-id"]
        lines = response.iter_lines()
        content = ""
        while not content:  # the first word has come: the turn is mid-stream
            line = next(lines)
            if line.startswith("data: {"):
                content = json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        assert in_flight(echo_api) == [run_id]
        started = time.monotonic()
        echo_api.client(echo_api.alice).runs.cancel(run_id)
        rest = [line for line in lines if line.startswith("data: ")]
        took = time.monotonic() - started
    assert took < 2, f"the stream went on {took:.1f} s after the cancel"
    assert "cancelled" in json.loads(rest[-1][6:])["error"]["message"]
    assert wait_ended(echo_api, run_id) == "cancelled"
    assert in_flight(echo_api) == []
    # the session is free: the next turn runs on it at once
    reply = openai_client(echo_api).chat.completions.create(
        model=AGENT, messages=[{"role": "user", "content": "after"}]
    )
    assert reply.choices[0].message.content == "echo: after"


def test_an_http_error_in_the_runtime_is_a_failed_run_with_a_one_line_error(
    echo_api: Api[EchoRuntime],
) -> None:
    client = openai_client(echo_api)
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.with_raw_response.create(
            model=AGENT, messages=[{"role": "user", "content": "/fail 500 now"}]
        )
    assert failed.value.status_code == 502
    message = failed.value.message
    assert "the echo runtime answered HTTP 500" in message
    assert "\n" not in message
    sdk = echo_api.client(echo_api.alice)
    latest = sdk.runs.get(max(sdk.runs.list(), key=lambda r: r.started_at or 0).run_id)
    assert latest.state == "failed"
    [ended] = [e for e in sdk.runs.events(latest.run_id) if isinstance(e, RunFailed)]
    assert ended.error.startswith("the echo runtime answered HTTP 500")
    assert "\n" not in ended.error
    assert in_flight(echo_api) == []
