"""``route explain`` and ``compute providers`` over toy providers registered from the test
(one registration each, backed by FakeProvider), run in this process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from computerouter.cli import run_cli
from computerouter.config import Settings
from computerouter.store import open_store
from computerouter.store.health import HealthStore
from computerouter.testing.toys import toy_provider, toy_providers

# fast: warm 50 ms at 0.02/CPU-hour in us and eu; cheap: warm 900 ms at 0.005 in iad and ams.
FAST = toy_provider("toyfast", regions=("us", "eu"), warm_start_ms=50, cpu_hour=20_000)
CHEAP = toy_provider("toycheap", regions=("iad", "ams"), warm_start_ms=900, cpu_hour=5_000)
VENDOR = toy_provider("toyvendor", regions=("syd",), warm_start_ms=1, needs_token=True)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("HOME", "DATABASE_URL", "USER", "REGION", "PRICES_FILE", "DEFAULT_PROVIDER"):
        monkeypatch.delenv(f"COMPUTEROUTER_{name}", raising=False)
    monkeypatch.setenv("COMPUTEROUTER_HOME", str(tmp_path))
    monkeypatch.setenv("COMPUTEROUTER_LIFECYCLE_DAEMON", "false")
    (tmp_path / "prompt.txt").write_text("be helpful\n")
    with toy_providers(FAST, CHEAP, VENDOR):
        yield tmp_path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def agent(capsys: pytest.CaptureFixture[str], home: Path, address: str, *flags: str) -> None:
    prompt = str(home / "prompt.txt")
    code, _, err = cli(capsys, "agent", "create", address, "--prompt-file", prompt, *flags)
    assert code == 0, err


def explain(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = cli(capsys, "route", "explain", *args, "--json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def toys(data: dict[str, Any]) -> list[str]:
    return [name for name in data["candidates"] if name.startswith("toy")]


def test_cost_aware_order_follows_the_price_file(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent(capsys, home, "sb/a", "--compute-policy", "cost-aware")
    (home / "prices.toml").write_text(
        "[compute.toyfast]\ncpu_hour = 30_000\n[compute.toycheap]\ncpu_hour = 3_000\n"
    )
    assert toys(explain(capsys, "sb/a")) == ["toycheap", "toyfast"]
    (home / "prices.toml").write_text(
        "[compute.toyfast]\ncpu_hour = 1_000\n[compute.toycheap]\ncpu_hour = 90_000\n"
    )
    data = explain(capsys, "sb/a")
    assert toys(data) == ["toyfast", "toycheap"]
    fast = next(r for r in data["providers"] if r["provider"] == "toyfast")
    assert fast["price_micro_per_hour"] == "1000"  # one CPU, the default resources
    assert "cost-aware" in fast["reason"]


def test_latency_aware_is_the_default_and_shows_every_provider(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent(capsys, home, "sb/a")
    data = explain(capsys, "sb/a")
    assert data["policy"] == "latency-aware"
    assert data["candidates"] == ["local", "toyfast", "toycheap"]
    rows = {r["provider"]: r for r in data["providers"]}
    assert rows["toyvendor"]["kept"] is False
    assert rows["toyvendor"]["reason"] == "not configured: set COMPUTEROUTER_TOYVENDOR_TOKEN"
    code, out, _ = cli(capsys, "route", "explain", "sb/a")
    assert code == 0
    assert "kept #2" in out
    assert "dropped" in out
    assert "toyvendor" in out


def test_caller_region_picks_the_nearest_served_region(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent(capsys, home, "sb/a")
    rows = {
        r["provider"]: r["region"] for r in explain(capsys, "sb/a", "--region", "fra")["providers"]
    }
    assert rows["toyfast"] == "eu"
    assert rows["toycheap"] == "ams"
    rows = {
        r["provider"]: r["region"] for r in explain(capsys, "sb/a", "--region", "dfw")["providers"]
    }
    assert rows["toyfast"] == "us"
    assert rows["toycheap"] == "iad"


def test_region_pin_keeps_only_serving_providers_or_refuses(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent(capsys, home, "sb/ams", "--compute-region", "ams")
    data = explain(capsys, "sb/ams")
    assert data["candidates"] == ["toycheap"]
    agent(capsys, home, "sb/syd", "--compute-region", "syd")
    data = explain(capsys, "sb/syd")
    assert data["candidates"] == []
    assert "pinned to region 'syd'" in data["refusal"]
    code, out, _ = cli(capsys, "route", "explain", "sb/syd")
    assert code == 0
    assert "refused:" in out


def test_policy_what_if_and_pin(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agent(capsys, home, "sb/pin", "--compute-provider", "toycheap")
    assert explain(capsys, "sb/pin")["candidates"] == ["toycheap"]
    what_if = explain(capsys, "sb/pin", "--policy", "latency-aware")
    assert what_if["candidates"][0] == "local"


def test_an_open_circuit_is_dropped_and_shown(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent(capsys, home, "sb/a")
    store = open_store(Settings.load(env={}, home=home).effective_database_url)
    try:
        HealthStore(store.engine).failed(
            "toyfast", "us", now=4e9, base_s=60, max_s=600, retry_after_s=None, error="boom"
        )
    finally:
        store.close()
    data = explain(capsys, "sb/a", "--region", "iad")
    assert "toyfast" not in data["candidates"]
    fast = next(r for r in data["providers"] if r["provider"] == "toyfast")
    assert fast["health"] == "open"
    assert "cooling down" in fast["reason"]
    code, out, _ = cli(capsys, "compute", "providers", "--json")
    assert code == 0
    listed = {p["name"]: p for p in json.loads(out)}
    assert listed["toyfast"]["health"][0]["state"] == "open"
    assert listed["toyfast"]["health"][0]["region"] == "us"


def test_compute_providers_lists_every_registered_provider(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "prices.toml").write_text(
        "[compute.toycheap]\ncpu_hour = 4_000\n[compute.toycheap.regions.ams]\ncpu_hour = 6_000\n"
    )
    code, out, err = cli(capsys, "compute", "providers", "--json")
    assert code == 0, err
    listed = {p["name"]: p for p in json.loads(out)}
    assert {"local", "toyfast", "toycheap", "toyvendor"} <= set(listed)
    assert listed["toyvendor"]["configured"] is False
    assert listed["toyvendor"]["to_configure"] == "set COMPUTEROUTER_TOYVENDOR_TOKEN"
    cheap = listed["toycheap"]
    assert cheap["configured"] is True
    assert cheap["regions"] == ["iad", "ams"]
    assert cheap["capabilities"]["warm_start_ms"] == 900
    assert cheap["prices"]["default"]["cpu_hour"] == 4_000
    assert cheap["prices"]["regions"]["ams"]["cpu_hour"] == 6_000
    assert [(h["region"], h["state"], h["probed_at"]) for h in cheap["health"]] == [
        ("", "closed", None)
    ]
    code, out, _ = cli(capsys, "compute", "providers")
    assert code == 0
    assert "no: set COMPUTEROUTER_TOYVENDOR_TOKEN" in out
    assert "iad, ams" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--region", "atlantis"), 2, "unknown region 'atlantis'"),
        (("--region", "Bad Region"), 2, "region 'Bad Region' is not valid"),
        (("--policy", "fastest"), 2, "unknown compute policy 'fastest'"),
    ],
)
def test_bad_input_is_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], code: int, message: str
) -> None:
    agent(capsys, home, "sb/a")
    got, out, err = cli(capsys, "route", "explain", "sb/a", *args)
    assert got == code
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_agent_is_not_found(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    got, _, err = cli(capsys, "route", "explain", "sb/nobody")
    assert got == 3
    assert len(err.strip().splitlines()) == 1


def test_unknown_region_setting_is_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    agent(capsys, home, "sb/a")
    monkeypatch.setenv("COMPUTEROUTER_REGION", "atlantis")
    got, _, err = cli(capsys, "route", "explain", "sb/a")
    assert got == 2
    assert "unknown region 'atlantis'" in err


def test_run_with_an_unknown_region_is_one_line_and_starts_nothing(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent(capsys, home, "sb/a")
    got, _, err = cli(capsys, "run", "sb/a", "hello", "--region", "atlantis")
    assert got == 2
    assert "unknown region 'atlantis'" in err
    store = open_store(Settings.load(env={}, home=home).effective_database_url)
    try:
        assert store.sessions.list() == []
    finally:
        store.close()
