"""Acceptance: Hermes runs end to end in a real, isolated local session."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hermes_world import IMAGES, MODEL_KEY, World, destroy_all, make_world

from computerouter.agents.router import AgentRun
from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.events import (
    AgentEvent,
    ApprovalRequested,
    MessageDelta,
    RunCancelled,
    RunCompleted,
    RunFailed,
    SessionReady,
    ToolCompleted,
    ToolStarted,
    Usage,
)
from computerouter.providers.local import LocalProvider
from computerouter.standin import StandinModel
from computerouter.testing.environment import child_env

# The first test may build the Hermes image (about a minute; more on a slow mirror).
pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]


def turn(world: World, text: str, *, approve: str | None = None) -> list[AgentEvent]:
    run = world.agents.run(user_id="alice", address=world.address, text=text)
    events = []
    for event in run.events():
        events.append(event)
        if isinstance(event, ApprovalRequested):
            assert approve is not None, f"unexpected approval request: {event.command}"
            run.respond_approval(approve)
    return events


def output(events: list[AgentEvent]) -> str:
    last = events[-1]
    assert isinstance(last, RunCompleted), events[-3:]
    return last.output


def session_of(events: list[AgentEvent]) -> str:
    ready = events[0]
    assert isinstance(ready, SessionReady)
    return ready.session_id


def inside(world: World, session_id: str, script: str) -> str:
    compute = world.agents.compute
    record = compute.get(session_id)
    assert record.instance_id is not None
    result = compute.provider("local").exec(
        record.instance_id, ["/usr/bin/python3", "-c", script], timeout_s=30
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_two_turns_second_sees_first(hermes_world: World) -> None:
    first = turn(hermes_world, "My name is Ada. Remember that the launch code is blue-42.")
    assert "stand-in" in output(first)
    assert any(isinstance(e, Usage) and e.input_tokens > 0 for e in first)
    second = turn(hermes_world, "What do you remember?")
    assert session_of(second) == session_of(first)
    assert output(second) == "I remember: Ada; the launch code is blue-42."
    deltas = "".join(e.delta for e in second if isinstance(e, MessageDelta))
    assert deltas.strip() == output(second)


def test_tool_progress_arrives_as_tool_events(hermes_world: World) -> None:
    events = turn(hermes_world, "USE_TOOL please")
    started = [e for e in events if isinstance(e, ToolStarted)]
    done = [e for e in events if isinstance(e, ToolCompleted)]
    assert [e.tool for e in started] == ["terminal"]
    assert "echo hello-from-tool" in started[0].preview
    assert done
    assert done[0].error is False
    assert "hello-from-tool" in output(events)


def test_suspend_resume_then_archive_restore_keep_state(hermes_world: World) -> None:
    compute = hermes_world.agents.compute
    session_id = session_of(turn(hermes_world, "My name is Grace."))
    compute.suspend(session_id)
    resumed = turn(hermes_world, "What is my name?")
    assert resumed[0].how == "resumed"  # type: ignore[attr-defined]
    assert "Grace" in output(resumed)
    compute.archive(session_id)
    restored = turn(hermes_world, "What do you remember?")
    assert restored[0].how == "restored"  # type: ignore[attr-defined]
    assert session_of(restored) == session_id
    assert "Grace" in output(restored)
    check = inside(
        hermes_world,
        session_id,
        "import sqlite3; c = sqlite3.connect('/workspace/.hermes/state.db');"
        "print(c.execute('PRAGMA integrity_check').fetchone()[0]);"
        "print(c.execute('SELECT count(*) FROM messages').fetchone()[0])",
    )
    integrity, messages = check.split()
    assert integrity == "ok"
    assert int(messages) >= 6


def test_only_the_bridged_model_is_reachable_and_the_key_never_enters(
    hermes_world: World,
) -> None:
    host_port = hermes_world.model.port  # the model itself, on the host's loopback
    command = (
        f"for p in 5432 {host_port} 6379; do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null"
        ' && echo "$p open" || echo "$p closed"; done;'
        " curl -s -m 2 -o /dev/null -w 'bridge %{http_code}' http://127.0.0.1:18080/v1/models"
    )
    events = turn(hermes_world, f"RUN: {command}", approve="once")
    result = output(events)
    assert f"{host_port} closed" in result
    assert "5432 closed" in result
    assert "6379 closed" in result
    assert "bridge 200" in result  # the one way out: the model, through the bridge
    session_id = session_of(events)
    leaks = inside(
        hermes_world,
        session_id,
        "import os, glob\n"
        # built from two halves so this script's own command line does not hold the key
        f"key = ({MODEL_KEY[:8]!r} + {MODEL_KEY[8:]!r}).encode()\n"
        "hits = []\n"
        "for path in glob.glob('/proc/[0-9]*/environ') + glob.glob('/proc/[0-9]*/cmdline'):\n"
        "    try:\n"
        "        data = open(path, 'rb').read()\n"
        "    except OSError:\n"
        "        continue\n"
        "    if key in data: hits.append(path)\n"
        "for top in ('/workspace', '/tmp', '/run', '/opt/computerouter'):\n"
        "    for root, _, files in os.walk(top):\n"
        "        for name in files:\n"
        "            p = os.path.join(root, name)\n"
        "            try:\n"
        "                if key in open(p, 'rb').read(): hits.append(p)\n"
        "            except OSError:\n"
        "                pass\n"
        "print('procs', len(glob.glob('/proc/[0-9]*')), 'hits', hits)\n",
    )
    assert "hits []" in leaks
    # and the key did reach the model, added on the host side by the relay
    assert hermes_world.model.requests


def test_failing_model_gives_run_failed_and_session_stays_usable(hermes_world: World) -> None:
    started = time.monotonic()
    events = turn(hermes_world, "FAIL this turn")
    assert time.monotonic() - started < 30
    failed = events[-1]
    assert isinstance(failed, RunFailed)
    assert "500" in failed.error
    assert "stand-in" in output(turn(hermes_world, "hello again"))


def test_cancel_stops_the_run_inside_hermes(hermes_world: World) -> None:
    run: AgentRun = hermes_world.agents.run(
        user_id="alice", address=hermes_world.address, text="SLOW answer please"
    )
    seen: list[AgentEvent] = []

    def cancel_when_started() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(e.type == "run.started" for e in seen):
            time.sleep(0.05)
        time.sleep(1.5)  # let Hermes reach the model call
        run.cancel()

    canceller = threading.Thread(target=cancel_when_started)
    canceller.start()
    started = time.monotonic()
    for event in run.events():
        seen.append(event)
    canceller.join()
    assert isinstance(seen[-1], RunCancelled)
    assert time.monotonic() - started < 15  # well before the model's 20 s answer
    assert hermes_world.agents.compute.store.runs.get(run.run_id).state == "cancelled"  # type: ignore[union-attr]


def test_unreachable_model_fails_in_bounded_time(tmp_path: Path) -> None:
    with StandinModel() as unused:
        closed_port = unused.port
    with StandinModel(api_key=MODEL_KEY) as model:
        world = make_world(tmp_path, model, base_url=f"http://127.0.0.1:{closed_port}/v1")
        try:
            started = time.monotonic()
            events = turn(world, "hello?")
            took = time.monotonic() - started
            assert isinstance(events[-1], RunFailed), events[-2:]
            assert "upstream unreachable" in events[-1].error
            assert took < 60
            provider = world.agents.compute.provider("local")
            assert isinstance(provider, LocalProvider)
            session = world.agents.compute.get(session_of(events))
            assert session.state.value == "running"
        finally:
            destroy_all(world)


def test_ctrl_c_in_the_cli_cancels_the_run(tmp_path: Path) -> None:
    """The real command line: SIGINT while a turn waits on the model cancels it in Hermes."""
    with StandinModel(slow_seconds=30.0) as model:
        env = child_env()
        env |= {
            "COMPUTEROUTER_HOME": str(tmp_path),
            "COMPUTEROUTER_IMAGES_DIR": str(IMAGES),
            "COMPUTEROUTER_MODEL_BASE_URL": model.base_url,
            "COMPUTEROUTER_LIFECYCLE_DAEMON": "false",  # the test destroys its session itself
        }
        prompt = tmp_path / "prompt.md"
        prompt.write_text("You are a test agent.")
        cli = [sys.executable, "-m", "computerouter"]
        created = subprocess.run(
            [*cli, "agent", "create", "sb/slow", "--prompt-file", str(prompt)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        granted = subprocess.run(
            [*cli, "credits", "grant", "--user", "local", "10"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert granted.returncode == 0, granted.stderr
        run = subprocess.Popen(
            [*cli, "run", "sb/slow", "SLOW please", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert run.stdout is not None
        lines = []
        for line in run.stdout:
            lines.append(line)
            if '"run.started"' in line:
                break
        time.sleep(2.0)  # Hermes is now waiting on the (slow) model
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=30)
        lines.extend(out.splitlines())
        assert run.returncode == 1, err
        assert any('"run.cancelled"' in line for line in lines), lines[-3:]
        assert "cancelling" in err
        router = open_router(Settings.load(env={}, home=tmp_path, images_dir=str(IMAGES)))
        try:
            [session] = router.store.sessions.list()
            assert router.store.runs.in_flight(session.id) == []
            router.destroy(session.id)
        finally:
            router.store.close()
