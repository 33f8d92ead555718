"""Real Hermes on emulated Daytona, every way out through the router's remote gateway: the
router's MCP host answers a tool call with the caller's own data (the run's bearer stamped at
the gateway), the forward proxy refuses what is not allowed and logs it with the run, and the
sandbox holds neither the model key nor any run's token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from daytona_hermes_world import ADDRESS, hermes_on_daytona

from computerouter.agents.router import AgentRouter
from computerouter.agents.run_token import RunTokens
from computerouter.domain.agents import ModelSettings
from computerouter.domain.events import AgentEvent, ApprovalRequested, RunCompleted, SessionReady
from computerouter.domain.run_tokens import RunToken

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]

MODEL_KEY = "sk-model-key-for-the-gateway-only-5e1c"


class RecordingTokens(RunTokens):
    """The router's own run tokens, each plaintext also kept here (to scan the sandbox for)."""

    def __init__(self, tokens: RunTokens) -> None:
        self.__dict__.update(tokens.__dict__)
        self.issued: dict[str, str] = {}

    def issue(self, **kwargs: Any) -> tuple[RunToken, str]:
        token, plaintext = super().issue(**kwargs)
        self.issued[token.run_id] = plaintext
        return token, plaintext


@dataclass(kw_only=True)
class World:
    agents: AgentRouter
    tokens: RecordingTokens
    home: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("daytona-gateway")
    with hermes_on_daytona(
        root,
        agent=ModelSettings(compute_provider="daytona"),
        prompt="You are the support agent of a Daytona test.",
        model_key=MODEL_KEY,
    ) as (agents, _):
        tokens = RecordingTokens(agents.run_tokens)
        agents.run_tokens = tokens
        yield World(agents=agents, tokens=tokens, home=root / "home")


def _turn(world: World, text: str) -> list[AgentEvent]:
    run = world.agents.run(user_id="alice", address=ADDRESS, text=text)
    events = []
    for event in run.events():
        events.append(event)
        if isinstance(event, ApprovalRequested):
            run.respond_approval("once")
    return events


def _tool_answer(events: list[AgentEvent]) -> dict[str, Any]:
    last = events[-1]
    assert isinstance(last, RunCompleted), events[-3:]
    assert last.output.startswith("TOOL_DONE: "), last.output
    text = last.output
    found = json.loads(text[text.index("{") : text.rindex("}") + 1])
    inner = found.get("structuredContent")
    assert isinstance(inner, dict), text
    return inner


def _gateway_log(world: World) -> list[dict[str, Any]]:
    path = world.home / "logs" / "remote-gateway.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_hermes_calls_the_routers_mcp_host_through_the_gateway(world: World) -> None:
    events = _turn(world, "MCP: whoami {}")
    ready = events[0]
    assert isinstance(ready, SessionReady)
    assert world.agents.compute.get(ready.session_id).provider == "daytona"
    me = _tool_answer(events)
    assert me["user_id"] == "alice"
    assert me["sandbox_id"] == "sb1"
    assert me["run_id"] == events[-1].run_id


def test_the_forward_proxy_refuses_and_logs_the_destination_with_the_run(world: World) -> None:
    fetch = "python3 -c \"import urllib.request as u; u.urlopen('http://example.com/', timeout=5)\""
    events = _turn(world, f"RUN: {fetch}")
    assert isinstance(events[-1], RunCompleted), events[-3:]
    refused = [line for line in _gateway_log(world) if line.get("destination") == "example.com:80"]
    assert refused, _gateway_log(world)
    assert refused[-1]["run"] == events[-1].run_id
    assert refused[-1]["agent"] == events[-1].agent_id


def test_the_sandbox_holds_no_model_key_and_no_run_token(world: World) -> None:
    events = _turn(world, "MCP: whoami {}")
    ready = events[0]
    assert isinstance(ready, SessionReady)
    session = world.agents.compute.get(ready.session_id)
    assert session.instance_id is not None
    provider = world.agents.compute.provider("daytona")
    env = provider.exec(session.instance_id, ["sh", "-c", "cat /proc/[0-9]*/environ"])
    assert "HERMES_HOME" in env.stdout
    secrets = [MODEL_KEY, *world.tokens.issued.values()]
    assert len(secrets) >= 2
    for secret in secrets:
        assert secret not in env.stdout
        found = provider.exec(session.instance_id, ["grep", "-rlF", secret, "/workspace", "/tmp"])
        assert found.exit_code == 1, (secret[:8], found.stdout)
