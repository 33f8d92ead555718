"""``computerouter runs list|show``: every run with its agent, session, state, time and cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import cli, store_of

from computerouter.agents.router import AgentRouter
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.ledger import MICRO, Ledger, default_prices, format_credits
from computerouter.store.agents import AgentStore
from computerouter.testing import FakeAgentRuntime, FakeClock, FakeProvider

START = 1_750_000_000.0


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Five ended runs: alice's sb1/support (two, one failed), sb2/triage, bob's sb1/support,
    and alice's run of an agent that was deleted since."""
    settings = Settings.load(env={}, home=tmp_path, default_provider="local")
    store = store_of(tmp_path)
    clock = FakeClock(start=START)
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    compute = ComputeRouter(
        store=store,
        providers={"local": FakeProvider("local")},
        runtimes={"hermes": FakeAgentRuntime()},
        settings=settings,
        clock=clock,
        credit_gate=ledger,
    )
    agents = AgentRouter(compute=compute, agents=AgentStore(store.engine))
    for user in ("alice", "bob"):
        ledger.grant(user, 100 * MICRO)
    made = [
        ("alice", AgentAddress(sandbox_id="sb1", slug="support")),
        ("alice", AgentAddress(sandbox_id="sb2", slug="triage")),
        ("bob", AgentAddress(sandbox_id="sb1", slug="support")),
        ("alice", AgentAddress(sandbox_id="sb2", slug="gone")),
    ]
    for user, address in made:
        agents.create_agent(
            user_id=user,
            address=address,
            settings=ModelSettings(compute_provider="local"),
            prompt="You are a test agent.",
        )
    script = [
        ("alice", made[0][1], "hello there", 30),
        ("alice", made[0][1], "FAIL now", 5),
        ("alice", made[1][1], "sort these", 12),
        ("bob", made[2][1], "hi from bob", 7),
        ("alice", made[3][1], "last words", 3),
    ]
    for user, address, text, seconds in script:
        run = agents.run(user_id=user, address=address, text=text)
        for _ in run.events():
            clock.advance(seconds / 10)
        clock.advance(60)
    agents.agents.delete("alice", made[3][1])
    store.close()
    return tmp_path


def listed(home: Path, *args: str) -> list[dict[str, Any]]:
    result = cli(home, "runs", "list", "--json", *args)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    return rows


def test_runs_list_shows_each_run_with_its_two_costs(home: Path) -> None:
    rows = listed(home)
    assert [r["agent"] for r in rows] == [
        "sb1/support",
        "sb1/support",
        "sb2/triage",
        "sb1/support",
        rows[4]["agent_id"],  # its agent is deleted: the id is all that is left
    ]
    assert [r["state"] for r in rows] == ["completed", "failed"] + ["completed"] * 3
    assert [r["user_id"] for r in rows] == ["alice", "alice", "alice", "bob", "alice"]
    store = store_of(home)
    try:
        ledger = Ledger(store=store, prices=default_prices())
        for row in rows:
            bill = ledger.run_bill(row["run_id"])
            assert bill.token is not None
            assert bill.compute is not None
            assert row["token_micro"] == bill.token.amount
            assert row["compute_micro"] == bill.compute.amount
            assert row["total_micro"] == bill.total
            assert row["session_id"] == bill.compute.session_id
            run = store.runs.get(row["run_id"])
            assert run is not None
            assert run.ended_at is not None
            assert row["duration_s"] == pytest.approx(run.ended_at - run.started_at)
    finally:
        store.close()
    assert all(r["duration_s"] > 0 and r["compute_micro"] > 0 for r in rows)


def test_runs_list_filters(home: Path) -> None:
    assert len(listed(home, "--agent", "support")) == 3
    assert len(listed(home, "--agent", "support", "--user", "alice")) == 2
    assert len(listed(home, "--agent", "sb1/support")) == 3
    assert len(listed(home, "--agent", "sb2/support")) == 0
    assert [r["agent"] for r in listed(home, "--sandbox", "sb2", "--user", "alice")] == [
        "sb2/triage",
        listed(home)[4]["agent_id"],
    ]
    assert listed(home, "--user", "carol") == []


def test_runs_list_table_piped_keeps_every_id_and_cost(home: Path) -> None:
    rows = listed(home)
    result = cli(home, "runs", "list")
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout
    for row in rows:
        assert row["run_id"] in result.stdout
        assert row["session_id"] in result.stdout
        assert format_credits(row["total_micro"]) in result.stdout
    assert "failed" in result.stdout


def test_runs_show_one_run(home: Path) -> None:
    row = listed(home, "--sandbox", "sb2")[0]
    result = cli(home, "runs", "show", row["run_id"])
    assert result.returncode == 0, result.stderr
    for value in (
        row["run_id"],
        row["session_id"],
        "sb2/triage",
        row["agent_id"],
        format_credits(row["token_micro"]),
        format_credits(row["compute_micro"]),
        format_credits(row["total_micro"]),
    ):
        assert value in result.stdout
    shown = json.loads(cli(home, "runs", "show", row["run_id"], "--json").stdout)
    assert shown == row


def test_runs_show_of_an_unknown_run_is_one_line_and_exit_3(home: Path) -> None:
    result = cli(home, "runs", "show", "run_nope")
    assert result.returncode == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["error: no run 'run_nope'"]
