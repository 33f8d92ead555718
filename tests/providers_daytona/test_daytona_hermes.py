"""A real Hermes turn on the daytona provider, through the emulator and the model stand-in.

The sandbox's only way out is the router's remote gateway, which stamps the model's key (the
stand-in refuses calls without it); the key is nowhere in the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daytona_hermes_world import ADDRESS, hermes_on_daytona

from computerouter.agents.router import AgentRouter
from computerouter.domain.agents import ModelSettings
from computerouter.domain.events import AgentEvent, RunCompleted, SessionReady

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]

MODEL_KEY = "sk-model-key-stamped-by-the-gateway"


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[AgentRouter]:
    with hermes_on_daytona(
        tmp_path,
        agent=ModelSettings(compute_provider="daytona"),
        prompt="You are the support agent of a Daytona test.",
        model_key=MODEL_KEY,
    ) as (router, emulator):
        yield router
    assert emulator.emulator.unimplemented == []


def _turn(agents: AgentRouter, text: str) -> list[AgentEvent]:
    return list(agents.run(user_id="alice", address=ADDRESS, text=text).events())


def test_two_hermes_turns_on_daytona_remember_each_other(agents: AgentRouter) -> None:
    first = _turn(agents, "My name is Ada. Remember that the launch code is blue-42.")
    assert isinstance(first[0], SessionReady)
    assert isinstance(first[-1], RunCompleted), first[-3:]
    assert "stand-in" in first[-1].output

    second = _turn(agents, "What do you remember?")

    assert isinstance(second[-1], RunCompleted), second[-3:]
    assert second[-1].output == "I remember: Ada; the launch code is blue-42."
    assert isinstance(second[0], SessionReady)
    assert second[0].session_id == first[0].session_id
    session = agents.compute.get(first[0].session_id)
    assert session.provider == "daytona"
    assert session.instance_id is not None
    provider = agents.compute.provider("daytona")
    env = provider.exec(session.instance_id, ["sh", "-c", "cat /proc/[0-9]*/environ"])
    assert "HERMES_HOME" in env.stdout
    assert MODEL_KEY not in env.stdout
    files = provider.exec(session.instance_id, ["grep", "-rlF", MODEL_KEY, "/workspace"])
    assert files.exit_code == 1, files.stdout


def test_a_turn_after_stop_and_after_archive_resumes_with_its_memory(agents: AgentRouter) -> None:
    first = _turn(agents, "My name is Ada. Remember that the launch code is blue-42.")
    assert isinstance(first[0], SessionReady)
    session_id = first[0].session_id
    compute = agents.compute

    compute.suspend(session_id)
    assert compute.get(session_id).state.value == "suspended"
    after_stop = _turn(agents, "What do you remember?")
    assert isinstance(after_stop[-1], RunCompleted), after_stop[-3:]
    assert after_stop[-1].output == "I remember: Ada; the launch code is blue-42."

    compute.archive(session_id)
    assert compute.get(session_id).state.value == "archived"
    after_archive = _turn(agents, "What do you remember?")
    assert isinstance(after_archive[-1], RunCompleted), after_archive[-3:]
    assert after_archive[-1].output == "I remember: Ada; the launch code is blue-42."
