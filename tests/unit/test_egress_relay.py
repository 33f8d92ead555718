"""The egress relay on its own (a host process, a stand-in model behind it): each turn's
endpoint and budget arrive over its control channel; model calls are capped, metered and
refused at the hold; failures name the endpoint, never its key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from computerouter.domain.egress import EgressBudget, EgressTurn
from computerouter.errors import ProviderError
from computerouter.providers.egress import relay_source
from computerouter.providers.egress.control import control_name, meter, push_turn
from computerouter.standin import StandinModel

KEY = "sk-relay-test-9e1c2b7a40d35f68"


@pytest.fixture
def model() -> Iterator[StandinModel]:
    with StandinModel(api_key=KEY) as running:
        yield running


@pytest.fixture
def relay(tmp_path: Path, model: StandinModel) -> Iterator[tuple[Path, str]]:
    sock = tmp_path / "egress-model.sock"
    name = control_name(sock)
    config = {
        "upstream": model.base_url,
        "headers": [["Authorization", f"Bearer {KEY}"]],
        "prefix": "/v1",
        "metered": True,
        "control": name,
        "controllers": [os.geteuid()],
    }
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", relay_source().decode(), str(sock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(config).encode())
    proc.stdin.close()
    deadline = time.monotonic() + 10
    while not sock.exists():
        assert time.monotonic() < deadline, "the relay did not start"
        time.sleep(0.01)
    try:
        yield sock, name
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def chat(sock: Path, **extra: object) -> httpx.Response:
    body = {"model": "whatever", "messages": [{"role": "user", "content": "Hello"}], **extra}
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=10) as client:
        return client.post("http://relay/v1/chat/completions", json=body)


def budget(
    limit: int, *, input_per_mtok: int = 1_000_000, output_per_mtok: int = 1_000_000
) -> EgressBudget:
    return EgressBudget(
        run_id="run_1",
        limit=limit,
        input_per_mtok=input_per_mtok,
        output_per_mtok=output_per_mtok,
        started_at=time.time(),
    )


def test_outside_a_run_a_metered_relay_lets_no_model_call_out(
    relay: tuple[Path, str], model: StandinModel
) -> None:
    sock, _ = relay
    refused = chat(sock)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "credit"
    assert model.requests == []


def test_calls_are_capped_to_the_budget_and_metered_from_usage(
    relay: tuple[Path, str], model: StandinModel
) -> None:
    sock, name = relay
    turn = EgressTurn(
        upstream=model.base_url,
        headers=(("Authorization", f"Bearer {KEY}"),),
        model="standin-model",
        budget=budget(10_000),  # 1 credit per million tokens: 10 000 tokens in all
    )
    push_turn(name, turn, provider="local")
    answer = chat(sock, max_tokens=65536)
    assert answer.status_code == 200, answer.text
    [sent] = model.requests
    assert sent["model"] == "standin-model"  # the turn's model name
    assert 0 < sent["max_tokens"] < 10_000  # what the budget allows after the request bytes
    used = answer.json()["usage"]
    # The relay settles a call when the endpoint closes, a moment after the caller has it all.
    deadline = time.monotonic() + 5
    spent = meter(name, "run_1", end=False, provider="local")
    while spent.input_tokens == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
        spent = meter(name, "run_1", end=False, provider="local")
    assert (spent.input_tokens, spent.output_tokens) == (
        used["prompt_tokens"],
        used["completion_tokens"],
    )
    assert spent.spent == used["prompt_tokens"] + used["completion_tokens"]  # 1 per token

    # A budget too small for even the request's bytes: refused, nothing sent.
    push_turn(
        name,
        EgressTurn(upstream=model.base_url, headers=turn.headers, budget=budget(5)),
        provider="local",
    )
    refused = chat(sock)
    assert refused.status_code == 402
    assert len(model.requests) == 1
    assert meter(name, "run_1", end=True, provider="local").refused == 1


def test_a_new_endpoint_applies_at_once_and_failures_name_it(
    relay: tuple[Path, str], model: StandinModel
) -> None:
    sock, name = relay
    bad = "http://127.0.0.1:9/v1"
    push_turn(
        name,
        EgressTurn(
            upstream=bad, headers=(("Authorization", f"Bearer {KEY}"),), budget=budget(10**9)
        ),
        provider="local",
    )
    failed = chat(sock)
    assert failed.status_code == 502
    assert bad in failed.text
    assert KEY not in failed.text
    seen = meter(name, "run_1", end=False, provider="local")
    assert seen.last_error is not None
    assert seen.last_error.url == bad
    assert seen.spent == 0  # the call never reached an endpoint
    push_turn(
        name,
        EgressTurn(
            upstream=model.base_url,
            headers=(("Authorization", f"Bearer {KEY}"),),
            budget=budget(10**9),
        ),
        provider="local",
    )
    assert chat(sock).status_code == 200


def test_the_control_channel_refuses_other_uids(tmp_path: Path, model: StandinModel) -> None:
    sock = tmp_path / "egress-model.sock"
    name = control_name(sock)
    config = {"upstream": model.base_url, "control": name, "controllers": [os.geteuid() + 12345]}
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", relay_source().decode(), str(sock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(config).encode())
    proc.stdin.close()
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(ProviderError):
            push_turn(name, EgressTurn(upstream="http://127.0.0.1:9/v1"), provider="local")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_run_no_longer_in_flight_spends_no_more(
    relay: tuple[Path, str], model: StandinModel
) -> None:
    """Its control plane died before ending it: the next turn's list of runs in flight drops
    its budget, so a call outside any run is refused again."""
    sock, name = relay
    headers = (("Authorization", f"Bearer {KEY}"),)
    push_turn(
        name,
        EgressTurn(upstream=model.base_url, headers=headers, budget=budget(10**9)),
        provider="local",
    )
    assert chat(sock).status_code == 200
    push_turn(
        name, EgressTurn(upstream=model.base_url, headers=headers, active=()), provider="local"
    )
    assert chat(sock).status_code == 402
    assert len(model.requests) == 1
