"""The echo test runtime runs agent turns: in a real isolated session (the local provider), a
turn streams one delta per word, then its usage and the whole reply; an HTTP error is a failed
run with a one-line reason; a cancel mid-stream ends the turn cancelled at once, and the
session's runtime goes on answering."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from computerouter.domain.events import (
    AgentEvent,
    MessageDelta,
    RunCancelled,
    RunCompleted,
    RunFailed,
    Usage,
)
from computerouter.domain.values import Endpoint
from computerouter.errors import InputError
from computerouter.providers.local import LocalProvider, probe
from computerouter.runtimes.base import AgentRuntime, EventContext, TurnRequest
from computerouter.runtimes.echo import EchoRuntime
from computerouter.runtimes.transport import client_for
from computerouter.testing.specs import echo_spec

pytestmark = pytest.mark.isolation

RUNTIME = EchoRuntime(turn_timeout_s=30.0)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    local = LocalProvider(root=tmp_path_factory.mktemp("echo-turns") / "local")
    instance = local.create(echo_spec())
    try:
        assert instance.endpoint is not None
        yield instance.endpoint
    finally:
        local.destroy(instance.instance_id)


def context(run_id: str = "run_1") -> EventContext:
    return EventContext(run_id=run_id, agent_id="agt_1", sandbox_id="sb1", user_id="alice")


def turn(
    client: httpx.Client, text: str, *, instructions: str = "", conversation: str = ""
) -> list[AgentEvent]:
    request = TurnRequest(
        run_id="run_1", input=text, instructions=instructions, conversation=conversation
    )
    return list(RUNTIME.start_turn(client, request, context()).events())


def test_it_is_an_agent_runtime() -> None:
    assert isinstance(RUNTIME, AgentRuntime)
    assert RUNTIME.headers("ses_1") == {}


def test_a_turn_streams_a_delta_per_word_then_usage_and_the_reply(endpoint: Endpoint) -> None:
    with client_for(endpoint) as client:
        events = turn(client, "hello there world", instructions="Be brief.")
    deltas = [e.delta for e in events if isinstance(e, MessageDelta)]
    assert deltas == ["echo:", " hello", " there", " world"]
    *_, usage, completed = events
    assert isinstance(usage, Usage)
    assert isinstance(completed, RunCompleted)
    assert completed.output == "".join(deltas) == "echo: hello there world"
    # the system message went with the input: its words are prompt tokens
    assert (usage.input_tokens, usage.output_tokens, usage.model) == (5, 4, "echo")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert {e.run_id for e in events} == {"run_1"}


def test_turns_of_one_conversation_see_each_other(endpoint: Endpoint) -> None:
    with client_for(endpoint) as client:
        first = [e for e in turn(client, "one two", conversation="c1") if isinstance(e, Usage)]
        second = [e for e in turn(client, "three", conversation="c1") if isinstance(e, Usage)]
        other = [e for e in turn(client, "three", conversation="c2") if isinstance(e, Usage)]
        history = client.get("/v1/conversations/c1").json()["data"]
    assert first[0].input_tokens == 2
    assert second[0].input_tokens == 2 + 3 + 1  # "one two", "echo: one two", "three"
    assert other[0].input_tokens == 1
    assert [m["content"] for m in history] == ["one two", "echo: one two", "three", "echo: three"]


def test_an_http_error_is_a_failed_run_with_a_one_line_reason(endpoint: Endpoint) -> None:
    with client_for(endpoint) as client:
        events = turn(client, "/fail 503 please")
        after = turn(client, "still here")
    [failed] = events
    assert isinstance(failed, RunFailed)
    assert failed.code == "runtime_failed"
    reason = "echo was asked to fail with HTTP 503"
    assert failed.error == f"the echo runtime answered HTTP 503: {reason}"
    assert isinstance(after[-1], RunCompleted)


def test_a_cancel_mid_stream_ends_the_turn_cancelled_at_once(endpoint: Endpoint) -> None:
    with client_for(endpoint) as client:
        request = TurnRequest(run_id="run_1", input="/slow 2 " + "word " * 20)
        handle = RUNTIME.start_turn(client, request, context())
        events = handle.events()
        first = next(events)
        assert isinstance(first, MessageDelta)
        # from another thread, as the router's cancel comes, while this one waits on a read
        threading.Timer(0.2, handle.cancel).start()
        started = time.monotonic()
        rest = list(events)
        took = time.monotonic() - started
        after = turn(client, "still here")
    assert [type(e) for e in rest] == [RunCancelled]
    assert took < 1.5, f"the cancel took {took:.1f} s (the next chunk was 2 s away)"
    assert isinstance(after[-1], RunCompleted)
    handle.cancel()  # a second cancel, after the end, is harmless


def test_approvals_are_refused() -> None:
    request = TurnRequest(run_id="run_1", input="hi")
    transport = httpx.MockTransport(lambda _: httpx.Response(200, text="data: [DONE]\n\n"))
    with httpx.Client(transport=transport, base_url="http://session") as client:
        handle = RUNTIME.start_turn(client, request, context())
        with pytest.raises(InputError, match="no approvals"):
            handle.respond_approval("once")
        # a stream that ends before the reply finished is a lost runtime, not a reply
        [lost] = list(handle.events())
    assert isinstance(lost, RunFailed)
    assert lost.code == "runtime_lost"


def test_sixteen_turns_at_once_all_complete_on_kept_connections(endpoint: Endpoint) -> None:
    def turns(worker: int) -> list[str]:
        with client_for(endpoint) as client:
            outputs = []
            for i in range(5):
                events = turn(client, f"worker {worker} turn {i}")
                assert isinstance(events[-1], RunCompleted), events[-1]
                outputs.append(events[-1].output)
            return outputs

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(turns, range(16)))
    assert results[3] == [f"echo: worker 3 turn {i}" for i in range(5)]


def test_one_connection_carries_many_streamed_answers(endpoint: Endpoint) -> None:
    """Streamed answers are chunked, not ended by a close: a client pool reuses connections."""
    body = b'{"stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: session\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5)
        conn.connect(endpoint.address)
        for _ in range(3):
            conn.sendall(request)
            answer = b""
            while not answer.endswith(b"0\r\n\r\n"):
                data = conn.recv(65536)
                assert data, "the server closed the connection"
                answer += data
            head = answer.split(b"\r\n\r\n", 1)[0].lower()
            assert b"transfer-encoding: chunked" in head
            assert b"connection: close" not in head
            assert b"data: [DONE]" in answer
