"""The stand-in over HTTP: OpenAI shapes, streaming, usage, keys, failures, the request log."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any

import httpx
import pytest
from standin_sse import KEY, chunks, user

from computerouter.standin import MODEL_ID, StandinModel, Verdict


def chat(client: httpx.Client, messages: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    return client.post("/chat/completions", json={"model": MODEL_ID, "messages": messages, **extra})


def test_lists_one_model_labeled_as_a_stand_in(client: httpx.Client) -> None:
    response = client.get("/models")
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == ["standin-model"]
    assert response.headers["X-Computerouter-Standin"] == "true"


def test_the_model_reports_its_context_window_as_vllm_and_openrouter_do(
    client: httpx.Client,
) -> None:
    (model,) = client.get("/models").json()["data"]
    assert model["context_length"] == model["max_model_len"] == 131_072


@pytest.mark.parametrize("path", ["/api/v1/models", "/api/tags", "/v1/props", "/props", "/version"])
def test_other_probe_paths_are_404(model: StandinModel, path: str) -> None:
    assert httpx.get(model.url + path).status_code == 404


def test_health_needs_no_key(keyed: StandinModel) -> None:
    response = httpx.get(keyed.url + "/health")
    assert response.status_code == 200
    assert response.json()["model"] == MODEL_ID


def test_non_streaming_completion_has_usage_and_label(client: httpx.Client) -> None:
    body = chat(client, user("hi")).json()
    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL_ID
    assert body["system_fingerprint"] == "computerouter-standin"
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert "stand-in" in choice["message"]["content"]
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_usage_is_deterministic(client: httpx.Client) -> None:
    first = chat(client, user("the same words")).json()["usage"]
    assert chat(client, user("the same words")).json()["usage"] == first


def test_stream_has_role_then_content_then_finish_with_usage(client: httpx.Client) -> None:
    response = chat(client, user("hi"), stream=True, stream_options={"include_usage": True})
    assert response.headers["content-type"] == "text/event-stream"
    events = chunks(response.text)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert len({e["id"] for e in events}) == 1
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events)
    assert text == chat(client, user("hi")).json()["choices"][0]["message"]["content"]
    assert [e["choices"][0]["finish_reason"] for e in events][-1] == "stop"
    assert all(e["choices"][0]["finish_reason"] is None for e in events[:-1])
    assert events[-1]["usage"]["total_tokens"] > 0


def test_stream_without_include_usage_has_no_usage(client: httpx.Client) -> None:
    events = chunks(chat(client, user("hi"), stream=True).text)
    assert not any("usage" in e for e in events)


def test_streamed_tool_call_accumulates_like_an_openai_client(client: httpx.Client) -> None:
    events = chunks(chat(client, user("USE_TOOL"), stream=True).text)
    calls: dict[int, dict[str, str]] = {}
    for event in events:
        for part in event["choices"][0]["delta"].get("tool_calls") or []:
            call = calls.setdefault(part["index"], {"id": "", "name": "", "arguments": ""})
            call["id"] += part.get("id", "")
            call["name"] += part.get("function", {}).get("name", "")
            call["arguments"] += part.get("function", {}).get("arguments", "")
    assert list(calls) == [0]
    assert calls[0]["name"] == "terminal"
    assert calls[0]["id"].startswith("call_standin_")
    assert json.loads(calls[0]["arguments"]) == {"command": "echo hello-from-tool"}
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_non_streaming_tool_call(client: httpx.Client) -> None:
    body = chat(client, user("RUN: id -u")).json()
    message = body["choices"][0]["message"]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert message["content"] is None
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"command": "id -u"}


def test_tool_round_trip_ends_with_tool_done(client: httpx.Client) -> None:
    call = chat(client, user("USE_TOOL")).json()["choices"][0]["message"]
    messages = [
        *user("USE_TOOL"),
        call,
        {"role": "tool", "tool_call_id": call["tool_calls"][0]["id"], "content": "hello"},
    ]
    assert chat(client, messages).json()["choices"][0]["message"]["content"] == "TOOL_DONE: hello"


def test_second_turn_sees_the_first(client: httpx.Client) -> None:
    messages = user("My name is Ada.", "What is my name?")
    assert chat(client, messages).json()["choices"][0]["message"]["content"] == ("I remember: Ada.")


def test_fail_is_a_500_with_an_openai_error(client: httpx.Client) -> None:
    response = chat(client, user("FAIL"), stream=True)
    assert response.status_code == 500
    assert "stand-in" in response.json()["error"]["message"]


def test_slow_waits_the_configured_time(client: httpx.Client) -> None:
    started = time.monotonic()
    assert chat(client, user("SLOW")).status_code == 200
    assert 0.2 <= time.monotonic() - started < 5


def test_close_cuts_a_slow_reply_short() -> None:
    model = StandinModel(slow_seconds=60).start()
    result: list[int] = []

    def call() -> None:
        with httpx.Client(base_url=model.base_url, timeout=30) as client:
            result.append(chat(client, user("SLOW")).status_code)

    caller = threading.Thread(target=call)
    caller.start()
    while not model.requests:
        time.sleep(0.01)
    started = time.monotonic()
    model.close()
    caller.join(10)
    assert time.monotonic() - started < 5
    assert result == [200]


def test_judge_verdict_is_configurable() -> None:
    judge = [
        {"role": "system", "content": "You are a security reviewer for an AI coding agent."},
        {"role": "user", "content": "<command>rm -rf x</command>"},
    ]
    for verdict in Verdict:
        with StandinModel(verdict=verdict) as model, httpx.Client(base_url=model.base_url) as c:
            assert chat(c, judge).json()["choices"][0]["message"]["content"] == verdict.value


def test_requests_are_logged_in_order(model: StandinModel, client: httpx.Client) -> None:
    chat(client, user("one"))
    chat(client, user("two"), stream=True)
    assert [r["messages"][-1]["content"] for r in model.requests] == ["one", "two"]
    assert model.requests[1]["stream"] is True


def test_bad_body_is_400(client: httpx.Client) -> None:
    assert client.post("/chat/completions", content=b"not json").status_code == 400
    assert client.post("/chat/completions", json={"messages": "nope"}).status_code == 400


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}],
)
def test_key_is_required_when_configured(keyed: StandinModel, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=keyed.base_url, headers=headers) as client:
        assert client.get("/models").status_code == 401
        response = chat(client, user("hi"))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
    assert keyed.requests == []


def test_the_right_key_is_accepted(keyed: StandinModel) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=keyed.base_url, headers=headers) as client:
        assert client.get("/models").status_code == 200
        assert chat(client, user("hi")).status_code == 200


def test_connection_stays_open_across_streams_and_errors(model: StandinModel) -> None:
    conn = http.client.HTTPConnection(model.host, model.port, timeout=5)
    bodies = [
        {"messages": user("hi"), "stream": True},
        {"messages": user("FAIL")},
        {"messages": user("USE_TOOL"), "stream": True},
        {"messages": user("hi")},
    ]
    sockets = set()
    for body in bodies:
        conn.request("POST", "/v1/chat/completions", json.dumps(body))
        response = conn.getresponse()
        response.read()
        assert not response.will_close
        sockets.add(id(conn.sock))
    conn.close()
    assert len(sockets) == 1
