"""``compute providers`` shows when each circuit was last actively probed and what it said."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from computerouter.cli import run_cli
from computerouter.config import Settings
from computerouter.store import open_store
from computerouter.store.health import HealthStore
from computerouter.testing.toys import toy_provider, toy_providers

FAST = toy_provider("toyfast", regions=("us", "eu"), warm_start_ms=50, cpu_hour=20_000)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("HOME", "DATABASE_URL", "USER", "REGION", "PRICES_FILE", "DEFAULT_PROVIDER"):
        monkeypatch.delenv(f"COMPUTEROUTER_{name}", raising=False)
    monkeypatch.setenv("COMPUTEROUTER_HOME", str(tmp_path))
    monkeypatch.setenv("COMPUTEROUTER_LIFECYCLE_DAEMON", "false")
    with toy_providers(FAST):
        yield tmp_path


def test_compute_providers_shows_the_last_probe_and_its_outcome(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["compute", "providers", "--json"]) == 0  # makes the store
    store = open_store(Settings.load(env={}, home=home).effective_database_url)
    try:
        health = HealthStore(store.engine)
        now = time.time() - 5
        for region in ("us", "eu"):
            assert health.claim_active_probe(
                "toyfast", region, owner="o", now=now, interval_s=60, probe_s=120, closed_too=True
            )
        health.succeeded("toyfast", "us", now=now, probed=True)
        health.failed(
            "toyfast",
            "eu",
            now=now,
            base_s=60,
            max_s=600,
            retry_after_s=None,
            error="probe: 503",
            probed=True,
        )
    finally:
        store.close()
    capsys.readouterr()
    assert run_cli(["compute", "providers", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    rows = {h["region"]: h for h in listed["toyfast"]["health"]}
    assert (rows["us"]["state"], rows["us"]["probed_at"], rows["us"]["probe_error"]) == (
        "closed",
        now,
        None,
    )
    assert (rows["eu"]["state"], rows["eu"]["probe_error"]) == ("open", "probe: 503")
    assert run_cli(["compute", "providers"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"us: closed, probed \d+ s ago: ok", out), out
    assert re.search(r"eu: open \(\d+ s left\), probed \d+ s ago: failed", out), out
