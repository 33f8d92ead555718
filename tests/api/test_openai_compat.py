"""Acceptance (OpenAI-compatible endpoint, fake runtime): the official ``openai`` package with
only ``base_url`` and ``api_key`` set talks to an agent by its address; each request is a run
billed with its two rows. (Real Hermes: tests/integration/test_api_hermes.py.)"""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from computerouter.testing.live_api import Api


def openai_client(api: Api, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=key, max_retries=0)


@pytest.fixture
def agent(api: Api) -> str:
    api.client(api.alice).agents.create("sb1", slug="support", prompt="Be kind.")
    return "sb1/support"


def test_models_lists_the_callers_agents(api: Api, agent: str) -> None:
    models = openai_client(api, api.alice).models.list()
    assert [m.id for m in models.data] == [agent]
    assert list(openai_client(api, api.bob).models.list().data) == []


def test_non_streaming_completion_is_a_billed_run(api: Api, agent: str) -> None:
    client = openai_client(api, api.alice)
    raw = client.chat.completions.with_raw_response.create(
        model=agent,
        messages=[
            {"role": "system", "content": "ignored: the agent has its own prompt"},
            {"role": "user", "content": "hello agent"},
        ],
    )
    completion = raw.parse()
    run_id = raw.headers["x-computerouter-run-id"]
    assert completion.id == f"chatcmpl-{run_id}"
    assert completion.model == agent
    [choice] = completion.choices
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: hello agent (turn 1)"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 2
    bill = api.ledger.run_bill(run_id)
    assert bill.token is not None
    assert bill.compute is not None
    assert bill.token.input_tokens == completion.usage.prompt_tokens


def test_streaming_completion_with_usage(api: Api, agent: str) -> None:
    client = openai_client(api, api.alice)
    stream = client.chat.completions.create(
        model=agent,
        messages=[{"role": "user", "content": [{"type": "text", "text": "stream me"}]}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == "echo: stream me (turn 1)"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert finishes.count("stop") == 1
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    run_id = chunks[0].id.removeprefix("chatcmpl-")
    assert api.ledger.run_bill(run_id).total > 0


def test_streaming_without_usage_sends_no_usage_chunk(api: Api, agent: str) -> None:
    chunks = list(
        openai_client(api, api.alice).chat.completions.create(
            model=agent, messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_errors_reach_the_openai_client_as_its_own_errors(api: Api, agent: str) -> None:
    client = openai_client(api, api.alice)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(
            model="sb1/nobody", messages=[{"role": "user", "content": "hi"}]
        )
    assert missing.value.code == "agent_not_found"
    with pytest.raises(openai.AuthenticationError):
        openai_client(api, "cr_key_bad_key").models.list()
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=agent, messages=[{"role": "system", "content": "x"}])
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(model=agent, messages=[{"role": "user", "content": "FAIL"}])
    assert failed.value.status_code == 502
    with pytest.raises(openai.APIError, match="failed"):
        list(
            client.chat.completions.create(
                model=agent, messages=[{"role": "user", "content": "FAIL"}], stream=True
            )
        )


def test_a_client_that_hangs_up_mid_stream_cancels_the_run(api: Api, agent: str) -> None:
    with httpx.stream(
        "POST",
        f"{api.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {api.alice}"},
        json={"model": agent, "messages": [{"role": "user", "content": "HANG"}], "stream": True},
        timeout=10,
    ) as response:
        assert response.status_code == 200
        run_id = response.headers["x-computerouter-run-id"]
        next(response.iter_lines())
    client = api.client(api.alice)
    deadline = time.monotonic() + 10
    while client.runs.get(run_id).state == "running":
        assert time.monotonic() < deadline, "the run kept going after its client left"
        time.sleep(0.05)
    assert client.runs.get(run_id).state == "cancelled"
    # cancelled inside the runtime, or before its turn began
    assert all(turn.cancelled for turn in api.runtime.turns)


def test_tool_progress_is_surfaced_as_hermes_does(api: Api, agent: str) -> None:
    with httpx.stream(
        "POST",
        f"{api.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {api.alice}"},
        json={"model": agent, "messages": [{"role": "user", "content": "TOOL go"}], "stream": True},
        timeout=10,
    ) as response:
        lines = list(response.iter_lines())
    named = [i for i, line in enumerate(lines) if line == "event: hermes.tool.progress"]
    progress = [json.loads(lines[i + 1].removeprefix("data: ")) for i in named]
    assert [(p["tool"], p["status"]) for p in progress] == [
        ("terminal", "running"),
        ("terminal", "completed"),
    ]
    assert progress[0]["label"] == "echo hi"
    chunks = [
        json.loads(line.removeprefix("data: "))
        for i, line in enumerate(lines)
        if line.startswith("data: {") and i - 1 not in named
    ]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text.strip() == "echo: TOOL go (turn 1)"
    assert [line for line in lines if line][-1] == "data: [DONE]"
