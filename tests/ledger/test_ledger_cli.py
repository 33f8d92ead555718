"""``computerouter usage`` and ``computerouter credits``, as an operator or a script uses them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ledger_helpers import make_router, make_settings

from computerouter.domain.values import SessionKey
from computerouter.ledger import Ledger, default_prices, repair
from computerouter.store import open_store
from computerouter.testing import FakeClock
from computerouter.testing.environment import child_env


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_env()
    env["COMPUTEROUTER_HOME"] = str(home)
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "computerouter", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A data directory holding one user's two billed runs and an idle tail."""
    settings = make_settings(tmp_path)
    store = open_store(settings.effective_database_url)
    clock = FakeClock(start=1_750_000_000.0)
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    router = make_router(store, settings, clock, ledger)
    ledger.grant("alice", 20_000_000)
    key = SessionKey(user_id="alice", sandbox_id="sb")
    for run_id, agent, seconds in (("run_one", "bot", 60), ("run_two", "helper", 30)):
        with router.open_run(key, run_id=run_id, agent_id=agent) as lease:
            clock.advance(seconds)
            ledger.record_usage(run_id, model="m", input_tokens=10_000, output_tokens=2_000)
        clock.advance(120)
    router.suspend(lease.session.id)
    repair(ledger, lag_s=0)
    store.close()
    return tmp_path


def test_usage_json_adds_up(home: Path) -> None:
    result = cli(home, "usage", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    lines = {line["agent_id"]: line for line in data["lines"]}
    assert set(lines) == {"", "bot", "helper"}
    assert lines["bot"]["runs"] == 1
    assert lines["bot"]["busy_ms"] == 60_000
    assert lines[""]["idle_ms"] == 240_000
    assert lines[""]["runs"] == 0
    total = data["total"]
    assert total["total_micro"] == sum(line["total_micro"] for line in data["lines"])
    assert total["total_micro"] == (
        total["token_micro"] + total["compute_micro"] + total["idle_micro"]
    )
    shown = json.loads(cli(home, "credits", "show", "--user", "alice", "--json").stdout)
    assert shown["balance_micro"] == 20_000_000 - total["total_micro"]
    assert shown["balance_from_entries_micro"] == shown["balance_micro"]


def test_usage_filters(home: Path) -> None:
    by_agent = json.loads(cli(home, "usage", "--agent", "bot", "--json").stdout)
    assert [line["agent_id"] for line in by_agent["lines"]] == ["bot"]  # idle is the sandbox's
    nobody = json.loads(cli(home, "usage", "--user", "bob", "--json").stdout)
    assert nobody["lines"] == []
    future = json.loads(cli(home, "usage", "--since", "2099-01-01", "--json").stdout)
    assert future["lines"] == []
    recent = json.loads(cli(home, "usage", "--since", "1d", "--json").stdout)
    assert recent["lines"] == []  # the fake clock billed these in 2025
    table = cli(home, "usage", "--sandbox", "sb")
    assert table.returncode == 0, table.stderr
    for words in ("(idle)", "bot", "helper", "total"):
        assert words in table.stdout


def test_usage_run_shows_the_two_rows(home: Path) -> None:
    data = json.loads(cli(home, "usage", "run", "run_one", "--json").stdout)
    assert data["token"]["kind"] == "token"
    assert data["compute"]["kind"] == "compute"
    assert data["compute"]["quantity_ms"] == 60_000
    assert data["token"]["input_tokens"] == 10_000
    assert data["total_micro"] == data["token"]["amount_micro"] + data["compute"]["amount_micro"]
    table = cli(home, "usage", "run", "run_one")
    assert table.returncode == 0, table.stderr
    assert "token" in table.stdout
    assert "compute" in table.stdout
    assert "60,000 ms running" in table.stdout


def test_credits_grant_show_audit(home: Path) -> None:
    granted = cli(home, "credits", "grant", "--user", "bob", "12.5", "--key", "k1", "--json")
    assert granted.returncode == 0, granted.stderr
    assert json.loads(granted.stdout)["balance_micro"] == 12_500_000
    again = cli(home, "credits", "grant", "--user", "bob", "12.5", "--key", "k1", "--json")
    assert json.loads(again.stdout)["balance_micro"] == 12_500_000  # the same grant, once
    shown = cli(home, "credits", "show", "--user", "bob")
    assert "12.50" in shown.stdout
    audit = cli(home, "credits", "audit", "--json")
    assert audit.returncode == 0, audit.stdout
    assert json.loads(audit.stdout)["mismatched"] == []


@pytest.mark.parametrize(
    "args",
    [
        ("credits", "grant", "--user", "bob", "1.0000001"),
        ("credits", "grant", "--user", "bob", "--", "-3"),
        ("credits", "grant", "--user", "b o b", "3"),
        ("usage", "--since", "last tuesday"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(home: Path, args: tuple[str, ...]) -> None:
    result = cli(home, *args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1
    assert lines[0].startswith("error: ")


def test_an_unknown_run_is_not_found(home: Path) -> None:
    result = cli(home, "usage", "run", "run_nope")
    assert result.returncode == 3
    assert "no ledger entries" in result.stderr
