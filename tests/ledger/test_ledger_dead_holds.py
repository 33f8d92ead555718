"""A crashed run's credit hold: ``credits audit`` reports it as a hold with no live run, and one
``compute reap`` gives it back (not fifteen minutes later)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from test_ledger_cli import cli

from computerouter.compute.factory import process_alive
from computerouter.compute.owner import current_owner
from computerouter.config import Settings
from computerouter.ledger import Ledger, default_prices
from computerouter.store import open_store

WORKER = Path(__file__).with_name("hold_crash_worker.py")


def test_a_crashed_runs_hold_is_reported_and_released_by_reap(tmp_path: Path) -> None:
    granted = cli(tmp_path, "credits", "grant", "--user", "alice", "1")
    assert granted.returncode == 0, granted.stderr
    dead = subprocess.run(
        [sys.executable, str(WORKER), str(tmp_path), "alice", "run_crashed"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dead.returncode == -signal.SIGKILL, dead.stderr
    shown = json.loads(cli(tmp_path, "credits", "show", "--user", "alice", "--json").stdout)
    assert shown["reserved_micro"] > 0  # the dead run still holds credit

    audit = cli(tmp_path, "credits", "audit", "--json")
    assert audit.returncode == 1, audit.stdout
    report = json.loads(audit.stdout)
    [hold] = report["holds_without_live_run"]
    assert hold["run_id"] == "run_crashed"
    assert hold["held_micro"] == shown["reserved_micro"]
    text = cli(tmp_path, "credits", "audit")
    assert "run_crashed" in text.stdout
    assert "compute reap" in text.stdout

    reaped = cli(tmp_path, "compute", "reap", "--json")
    assert reaped.returncode == 0, reaped.stderr
    assert json.loads(reaped.stdout)["credit holds released"] == ["run_crashed"]
    after = json.loads(cli(tmp_path, "credits", "show", "--user", "alice", "--json").stdout)
    assert after["reserved_micro"] == 0
    assert after["available_micro"] == after["balance_micro"] == 1_000_000
    clean = cli(tmp_path, "credits", "audit", "--json")
    assert clean.returncode == 0, clean.stdout
    assert json.loads(clean.stdout)["holds_without_live_run"] == []


def test_a_live_runs_hold_is_left_alone(tmp_path: Path) -> None:
    """A hold taken by a process that is alive (this one) is neither reported nor released."""
    settings = Settings.load(env={}, home=tmp_path)
    store = open_store(settings.effective_database_url)
    ledger = Ledger(
        store=store, prices=default_prices(), owner=current_owner(), owner_alive=process_alive
    )
    ledger.grant("alice", 1_000_000)
    ledger.reserve(user_id="alice", sandbox_id="sb", agent_id="bot", run_id="run_live")
    assert cli(tmp_path, "credits", "audit").returncode == 0
    reaped = json.loads(cli(tmp_path, "compute", "reap", "--json").stdout)
    assert reaped["credit holds released"] == []
    assert ledger.account("alice").reserved == 1_000_000
    store.close()
