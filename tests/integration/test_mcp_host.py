"""The router's MCP host, called back by real Hermes in real local sessions: a turn calls an
MCP tool and the answer is the caller's own data; each run's token works only for that run,
only while it is in flight, and only on its own user's resources. The token never enters the
session: the host-side ``mcp`` route stamps it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hermes_world import MODEL_KEY, World, destroy_all, make_world

from computerouter.agents.router import AgentRun
from computerouter.agents.run_token import RunTokens
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.events import AgentEvent, ApprovalRequested, RunCompleted, SessionReady
from computerouter.domain.run_tokens import RunToken
from computerouter.ledger import MICRO, Ledger
from computerouter.providers.local import probe
from computerouter.standin import StandinModel

BOB = AgentAddress(sandbox_id="sb-bob", slug="helper")
DAYTONA_KEY = "dtn-provider-secret-4b1d9e7a"
"""A provider credential this control plane holds (Daytona is configured, if unused here)."""


class RecordingTokens(RunTokens):
    """The router's own tokens, each plaintext also kept here by run (the test plays a
    caller that stole one)."""

    def __init__(self, tokens: RunTokens) -> None:
        self.__dict__.update(tokens.__dict__)
        self.issued: dict[str, str] = {}

    def issue(self, **kwargs: Any) -> tuple[RunToken, str]:
        token, plaintext = super().issue(**kwargs)
        self.issued[token.run_id] = plaintext
        return token, plaintext


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"Hermes integration needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    with StandinModel(api_key=MODEL_KEY, slow_seconds=6.0) as model:
        world = make_world(
            tmp_path_factory.mktemp("mcp-home"),
            model,
            env={
                "COMPUTEROUTER_DAYTONA_API_URL": "http://127.0.0.1:9/api",
                "COMPUTEROUTER_DAYTONA_API_KEY": DAYTONA_KEY,
            },
        )
        world.agents.run_tokens = RecordingTokens(world.agents.run_tokens)
        ledger = world.agents.compute.credit_gate
        assert isinstance(ledger, Ledger)
        ledger.grant("bob", 500 * MICRO, note="integration tests")
        world.agents.create_agent(
            user_id="bob",
            address=BOB,
            settings=ModelSettings(compute_provider="local"),
            prompt="You are bob's helper.",
        )
        try:
            yield world
        finally:
            destroy_all(world)


def issued(world: World) -> dict[str, str]:
    tokens = world.agents.run_tokens
    assert isinstance(tokens, RecordingTokens)
    return tokens.issued


def turn(world: World, text: str, *, user: str = "alice") -> list[AgentEvent]:
    address = world.address if user == "alice" else BOB
    run = world.agents.run(user_id=user, address=address, text=text)
    events = []
    for event in run.events():
        events.append(event)
        if isinstance(event, ApprovalRequested):
            run.respond_approval("once")
    return events


def answer(events: list[AgentEvent]) -> dict[str, Any]:
    """The tool result the stand-in echoed back (``TOOL_DONE: <result>``), as JSON."""
    last = events[-1]
    assert isinstance(last, RunCompleted), events[-3:]
    assert last.output.startswith("TOOL_DONE: "), last.output
    # Hermes hands the model an MCP result fenced as untrusted, with the tool's own answer
    # as ``structuredContent``.
    text = last.output
    found = json.loads(text[text.index("{") : text.rindex("}") + 1])
    assert isinstance(found, dict), text
    inner = found.get("structuredContent")
    assert isinstance(inner, dict), text
    return inner


def call(world: World, token: str, tool: str, **arguments: Any) -> httpx.Response:
    """One tools/call straight to the MCP host, as any process on the host could try."""
    assert world.agents.mcp_host is not None
    return httpx.post(
        world.agents.mcp_host(),
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-06-18",
        },
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        },
        timeout=15,
    )


def tool_result(response: httpx.Response) -> tuple[bool, str]:
    """(is an error, text) of a tools/call answered 200."""
    assert response.status_code == 200, (response.status_code, response.text)
    result = response.json()["result"]
    return bool(result.get("isError")), "".join(c.get("text", "") for c in result["content"])


def in_flight(world: World, text: str, user: str = "alice") -> tuple[AgentRun, threading.Thread]:
    """A run started in a thread; returns once its token has been issued."""
    address = world.address if user == "alice" else BOB
    run = world.agents.run(user_id=user, address=address, text=text)
    thread = threading.Thread(target=lambda: list(run.events()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while run.run_id not in issued(world):
        assert time.monotonic() < deadline, "the run never got its token"
        time.sleep(0.05)
    return run, thread


def test_a_turn_calls_an_mcp_tool_and_gets_its_own_data(world: World) -> None:
    events = turn(world, "MCP: whoami {}")
    ready = events[0]
    assert isinstance(ready, SessionReady)
    me = answer(events)
    assert me["user_id"] == "alice"
    assert me["sandbox_id"] == "sb1"
    assert me["run_id"] == events[-1].run_id

    balance = answer(turn(world, "MCP: credit_balance {}"))
    assert balance["user_id"] == "alice"
    ledger = world.agents.compute.credit_gate
    assert isinstance(ledger, Ledger)
    assert float(balance["balance"]) <= 1_000
    assert float(balance["balance"]) > 900

    sessions = answer(turn(world, "MCP: sandbox_sessions {}"))
    assert [s["session_id"] for s in sessions["sessions"] if s["state"] == "running"] == [
        ready.session_id
    ]

    usage = answer(turn(world, "MCP: sandbox_usage {}"))
    assert usage["sandbox_id"] == "sb1"
    assert sum(line["runs"] for line in usage["lines"]) >= 3  # the turns above

    done = turn(world, "RUN: mkdir -p notes && echo hi > notes/plan.txt")
    assert isinstance(done[-1], RunCompleted)
    files = answer(turn(world, "MCP: workspace_files {}"))
    paths = {f["path"]: f["type"] for f in files["files"]}
    assert paths.get("notes") == "dir"
    assert paths.get("notes/plan.txt") == "file"
    assert not any(p.startswith(".hermes") for p in paths)


def test_the_session_holds_no_token(world: World) -> None:
    events = turn(
        world,
        "RUN: cat /workspace/.hermes/config.yaml; env; "
        "grep -rl rtk_ /workspace /tmp 2>/dev/null; echo scanned",
    )
    last = events[-1]
    assert isinstance(last, RunCompleted)
    assert "scanned" in last.output
    assert "http://127.0.0.1:18081/mcp" in last.output  # Hermes's config names the route
    for plaintext in issued(world).values():
        assert plaintext not in last.output
        assert plaintext.split(".")[0] not in last.output


def test_run_n_token_is_refused_during_run_n_plus_1(world: World) -> None:
    first = turn(world, "MCP: whoami {}")
    run_n = issued(world)[first[-1].run_id]
    run, thread = in_flight(world, "SLOW MCP: whoami {}")
    try:
        refused = call(world, run_n, "whoami")
        assert refused.status_code == 401, refused.text
        assert "revoked" in refused.json()["error"]["message"]
        error, text = tool_result(call(world, issued(world)[run.run_id], "whoami"))
        assert not error, text
        assert json.loads(text)["run_id"] == run.run_id
    finally:
        thread.join(60)
    assert call(world, issued(world)[run.run_id], "whoami").status_code == 401


def test_a_cancelled_runs_token_stops_working_at_once(world: World) -> None:
    run, thread = in_flight(world, "SLOW hello")
    token = issued(world)[run.run_id]
    error, _ = tool_result(call(world, token, "credit_balance"))
    assert not error
    run.cancel("the test cancels it")
    refused = call(world, token, "credit_balance")  # before the turn has even stopped
    assert refused.status_code == 401, refused.text
    thread.join(60)


def test_alice_token_is_refused_on_bob_resources(world: World) -> None:
    bob = answer(turn(world, "MCP: sandbox_sessions {}", user="bob"))
    assert bob["sandbox_id"] == "sb-bob"
    bob_session = bob["sessions"][0]["session_id"]

    # Through Hermes: alice's run asks for bob's sandbox by name.
    events = turn(world, 'MCP: sandbox_usage {"sandbox_id": "sb-bob"}')
    last = events[-1]
    assert isinstance(last, RunCompleted)
    assert "not_found" in last.output, last.output
    assert bob_session not in last.output

    # Straight to the host with alice's live token.
    run, thread = in_flight(world, "SLOW hello")
    try:
        token = issued(world)[run.run_id]
        for tool, arguments in (
            ("workspace_files", {"session_id": bob_session}),
            ("sandbox_sessions", {"sandbox_id": "sb-bob"}),
            ("sandbox_usage", {"sandbox_id": "sb-bob"}),
        ):
            error, text = tool_result(call(world, token, tool, **arguments))
            assert error, (tool, text)
            assert "not_found" in text, (tool, text)
            assert bob_session not in text
        mine = json.loads(tool_result(call(world, token, "whoami"))[1])
        assert mine["user_id"] == "alice"
    finally:
        thread.join(60)


def test_a_call_without_a_token_reads_nothing(world: World) -> None:
    assert world.agents.mcp_host is not None
    response = httpx.post(
        world.agents.mcp_host(),
        headers={"Accept": "application/json, text/event-stream"},
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "credit_balance", "arguments": {}},
        },
        timeout=15,
    )
    error, text = tool_result(response)
    assert error, text
    assert "unauthorized" in text, text


_SCAN = """
import glob, os, sys
secrets = [bytes.fromhex(h) for h in sys.argv[1:]]
hits = set()
for path in glob.glob('/proc/[0-9]*/environ') + glob.glob('/proc/[0-9]*/cmdline'):
    try:
        data = open(path, 'rb').read()
    except OSError:
        continue
    hits.update(f'{path}:{i}' for i, s in enumerate(secrets) if s in data)
files = 0
for top in ('/workspace', '/tmp', '/run', '/opt/computerouter', '/etc'):
    for root, _, names in os.walk(top):
        for name in names:
            p = os.path.join(root, name)
            try:
                data = open(p, 'rb').read()
            except OSError:
                continue
            files += 1
            hits.update(f'{p}:{i}' for i, s in enumerate(secrets) if s in data)
print('procs', len(glob.glob('/proc/[0-9]*')), 'files', files, 'hits', sorted(hits))
"""


def test_after_runs_no_secret_is_anywhere_in_the_session(world: World) -> None:
    """Issue 11: after runs (MCP calls among them), the session's processes' environments and
    command lines, its filesystem and Hermes's files hold none of the model key, any run's
    MCP token or the provider credential the control plane holds; scanned from inside the
    session and, on the host, in the session's own directory."""
    for text in ("MCP: whoami {}", "MCP: credit_balance {}", "hello there"):
        assert isinstance(turn(world, text)[-1], RunCompleted)
    tokens = list(issued(world).values())
    assert len(tokens) >= 3, "positive control: each run had its own token"
    assert world.model.requests, "positive control: the model key reached the model"
    secrets = [MODEL_KEY, DAYTONA_KEY, *tokens, *(t.split(".")[0] for t in tokens)]
    compute = world.agents.compute
    session = next(s for s in compute.store.sessions.list() if s.sandbox_id == "sb1")
    assert session.instance_id is not None
    # Positive control: a planted canary (the last value scanned for) must be found, and
    # only where it was planted.
    canary = "canary-not-a-secret-91c2f0"
    planted = compute.provider("local").exec(
        session.instance_id, ["sh", "-c", f"printf %s {canary} > /workspace/canary.txt"]
    )
    assert planted.exit_code == 0, planted.stderr
    # Hex on the command line, so the scan's own arguments do not hold the values.
    values = [*secrets, canary]
    argv = ["/usr/bin/python3", "-c", _SCAN, *(v.encode().hex() for v in values)]
    scanned = compute.provider("local").exec(session.instance_id, argv, timeout_s=60)
    assert scanned.exit_code == 0, scanned.stderr
    assert f"hits ['/workspace/canary.txt:{len(secrets)}']" in scanned.stdout, scanned.stdout

    provider = compute.provider("local")
    root = provider.root / "instances" / session.instance_id  # type: ignore[attr-defined]
    leaked = [
        str(path)
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink()
        for value in secrets
        if value.encode() in path.read_bytes()
    ]
    assert leaked == []
    assert (root / "workspace" / ".hermes").is_dir(), "positive control: Hermes's files"
