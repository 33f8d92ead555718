"""The CLI's reports and admin commands against a server (``--server URL`` with an API key):
``runs``, ``usage``, ``credits``, ``compute pause|unpause|pauses``, ``compute providers`` and
``route explain`` print what the embedded command prints on the same store, through the SDK;
scoped to the key's user; admin commands need an admin key; errors are one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from bounded_cli import InProcess, inprocess_cli, one_error_line

from computerouter.testing.live_api import Api, live_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    home = tmp_path / "server"
    home.mkdir()
    with live_api(home) as world:
        client = world.client(world.alice)
        client.agents.create("sb1", slug="support", prompt="You are support.")
        list(client.runs.stream("sb1/support", "hello"))
        yield world


def remote(api: Api, key: str, *args: str) -> InProcess:
    done = inprocess_cli(api.settings.home / "client", "--server", api.url, "--api-key", key, *args)
    return done


def embedded(api: Api, *args: str) -> InProcess:
    """The same command on the server's own store (its home), as an operator there runs it."""
    return inprocess_cli(api.settings.home, *args)


def assert_same(api: Api, key: str, remote_args: list[str], embedded_args: list[str]) -> str:
    there = remote(api, key, *remote_args)
    here = embedded(api, *embedded_args)
    assert there.returncode == 0, there.stderr
    assert here.returncode == 0, here.stderr
    assert there.stdout == here.stdout
    return there.stdout


def only_run_id(api: Api) -> str:
    listed = json.loads(remote(api, api.alice, "runs", "list", "--json").stdout)
    assert len(listed) == 1
    return str(listed[0]["run_id"])


# runs


def test_runs_list_and_show_are_the_embedded_ones(api: Api) -> None:
    for extra in ([], ["--json"], ["--agent", "support", "--json"], ["--limit", "1"]):
        assert_same(
            api, api.alice, ["runs", "list", *extra], ["runs", "list", "--user", "alice", *extra]
        )
    run_id = only_run_id(api)
    for extra in ([], ["--json"]):
        out = assert_same(
            api, api.alice, ["runs", "show", run_id, *extra], ["runs", "show", run_id, *extra]
        )
        assert run_id in out
    assert "sb1/support" in remote(api, api.alice, "runs", "list").stdout


def test_runs_are_scoped_to_the_key_s_user(api: Api) -> None:
    run_id = only_run_id(api)
    assert json.loads(remote(api, api.bob, "runs", "list", "--json").stdout) == []
    hidden = remote(api, api.bob, "runs", "show", run_id)
    assert hidden.returncode == 3
    assert run_id in one_error_line(hidden.stderr)
    as_admin = remote(api, api.admin, "runs", "list", "--user", "alice", "--json")
    assert [r["run_id"] for r in json.loads(as_admin.stdout)] == [run_id]


def test_runs_errors_are_one_line(api: Api) -> None:
    missing = remote(api, api.alice, "runs", "show", "run_nothing")
    assert missing.returncode == 3
    assert "run_nothing" in one_error_line(missing.stderr)
    bad = remote(api, api.alice, "runs", "list", "--limit", "0")
    assert bad.returncode == 2
    assert "--limit" in one_error_line(bad.stderr)


# usage


def test_usage_and_a_run_s_bill_are_the_embedded_ones(api: Api) -> None:
    for extra in ([], ["--json"], ["--sandbox", "sb1"], ["--since", "2020-01-01", "--json"]):
        assert_same(api, api.alice, ["usage", *extra], ["usage", "--user", "alice", *extra])
    run_id = only_run_id(api)
    for extra in ([], ["--json"]):
        assert_same(
            api, api.alice, ["usage", "run", run_id, *extra], ["usage", "run", run_id, *extra]
        )
    nothing = assert_same(api, api.bob, ["usage"], ["usage", "--user", "bob"])
    assert "no usage recorded" in nothing


def test_usage_errors_are_one_line(api: Api) -> None:
    run_id = only_run_id(api)
    hidden = remote(api, api.bob, "usage", "run", run_id)
    assert hidden.returncode == 3
    assert run_id in one_error_line(hidden.stderr)
    bad = remote(api, api.alice, "usage", "--since", "yesterday-ish")
    assert bad.returncode == 2
    assert "not a time" in one_error_line(bad.stderr)


# credits


def test_credits_show_and_grant_are_the_embedded_ones(api: Api) -> None:
    for extra in ([], ["--json"]):
        assert_same(
            api,
            api.alice,
            ["credits", "show", *extra],
            ["credits", "show", "--user", "alice", *extra],
        )
    granted = remote(api, api.admin, "credits", "grant", "--user", "bob", "2.5", "--json")
    assert granted.returncode == 0, granted.stderr
    body = json.loads(granted.stdout)
    assert body["granted_micro"] == 2_500_000
    assert body["balance_micro"] == 102_500_000
    assert api.ledger.account("bob").balance == 102_500_000  # the server's own ledger
    again = remote(api, api.admin, "credits", "grant", "--user", "bob", "1", "--key", "k1")
    assert again.returncode == 0, again.stderr
    assert "granted 1.00 credits to bob" in again.stdout
    twice = remote(api, api.admin, "credits", "grant", "--user", "bob", "1", "--key", "k1")
    assert twice.returncode == 0, twice.stderr
    assert api.ledger.account("bob").balance == 103_500_000  # the key grants once
    assert_same(
        api,
        api.admin,
        ["credits", "show", "--user", "bob", "--json"],
        ["credits", "show", "--user", "bob", "--json"],
    )


def test_credits_audit_is_the_embedded_one_with_an_admin_key(api: Api) -> None:
    for extra in ([], ["--json"]):
        out = assert_same(
            api, api.admin, ["credits", "audit", *extra], ["credits", "audit", *extra]
        )
    assert json.loads(out)["mismatched"] == []
    refused = remote(api, api.alice, "credits", "audit")
    assert refused.returncode != 0
    assert "admin key" in one_error_line(refused.stderr)


def test_credits_show_defaults_to_the_key_s_own_user(api: Api) -> None:
    mine = json.loads(remote(api, api.bob, "credits", "show", "--json").stdout)
    assert (mine["user_id"], mine["balance_micro"]) == ("bob", 100_000_000)


def test_credits_errors_are_one_line(api: Api) -> None:
    refused = remote(api, api.alice, "credits", "grant", "--user", "alice", "5")
    assert refused.returncode != 0
    assert "admin key" in one_error_line(refused.stderr)
    assert api.ledger.account("alice").balance < 100_000_001  # nothing was granted
    bad = remote(api, api.admin, "credits", "grant", "--user", "bob", "1e3")
    assert bad.returncode == 2
    assert "not an amount of credits" in one_error_line(bad.stderr)
    other = remote(api, api.alice, "credits", "show", "--user", "bob")
    assert other.returncode != 0
    assert "admin key" in one_error_line(other.stderr)


# pauses (admin)


def test_pause_unpause_and_pauses_through_a_server(api: Api) -> None:
    paused = remote(
        api, api.admin, "compute", "pause", "--user", "bob", "--reason", "abuse", "--json"
    )
    assert paused.returncode == 0, paused.stderr
    assert json.loads(paused.stdout) == {"scope": "user:bob", "mode": "drain", "cancelled_runs": []}
    text = remote(api, api.admin, "compute", "pause", "--provider", "local", "--reason", "maint")
    assert text.returncode == 0, text.stderr
    assert text.stdout.strip() == "paused provider local (drain): maint"
    assert {p.scope.key for p in api.agents.compute.gates.pauses(fresh=True)} == {
        "user:bob",
        "provider:local",
    }
    for extra in ([], ["--json"], ["--history"], ["--history", "--json"]):
        assert_same(api, api.admin, ["compute", "pauses", *extra], ["compute", "pauses", *extra])
    lifted = remote(api, api.admin, "compute", "unpause", "--user", "bob", "--reason", "sorted")
    assert lifted.returncode == 0, lifted.stderr
    assert lifted.stdout.strip() == "unpaused user bob: sorted"
    assert [p.scope.key for p in api.agents.compute.gates.pauses(fresh=True)] == ["provider:local"]


@pytest.mark.parametrize(
    "args",
    [
        ["compute", "pause", "--global", "--reason", "x"],
        ["compute", "unpause", "--global", "--reason", "x"],
        ["compute", "pauses"],
    ],
)
def test_pauses_need_an_admin_key(api: Api, args: list[str]) -> None:
    refused = remote(api, api.alice, *args)
    assert refused.returncode != 0
    assert "admin key" in one_error_line(refused.stderr)
    assert api.agents.compute.gates.pauses(fresh=True) == []


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["compute", "pause", "--reason", "x"], "exactly one scope", 2),
        (["compute", "pause", "--global", "--user", "u", "--reason", "x"], "exactly one scope", 2),
        (["compute", "pause", "--provider", "nowhere", "--reason", "x"], "nowhere", 2),
        (["compute", "pause", "--global", "--now", "--drain", "--reason", "x"], "contradict", 2),
        (["compute", "unpause", "--global", "--reason", " "], "needs a reason", 2),
        (["compute", "unpause", "--global", "--reason", "x"], "not paused", 2),
    ],
)
def test_pause_bad_input_is_one_line(api: Api, args: list[str], message: str, code: int) -> None:
    done = remote(api, api.admin, *args)
    assert done.returncode == code, done.stdout + done.stderr
    assert message in one_error_line(done.stderr)
    assert api.agents.compute.gates.pauses(fresh=True) == []


# providers and route explain


def test_providers_are_the_embedded_ones(api: Api) -> None:
    for extra in ([], ["--json"]):
        assert_same(
            api, api.alice, ["compute", "providers", *extra], ["compute", "providers", *extra]
        )
    names = [
        p["name"]
        for p in json.loads(remote(api, api.alice, "compute", "providers", "--json").stdout)
    ]
    assert "local" in names


def test_route_explain_is_the_embedded_one(api: Api) -> None:
    for extra in ([], ["--json"], ["--policy", "cost-aware"], ["--region", "eu", "--json"]):
        assert_same(
            api,
            api.alice,
            ["route", "explain", "sb1/support", *extra],
            ["route", "explain", "sb1/support", "--user", "alice", *extra],
        )


@pytest.mark.parametrize(
    ("key", "args", "message", "code"),
    [
        ("alice", ["route", "explain", "sb1/nobody"], "sb1/nobody", 3),
        ("bob", ["route", "explain", "sb1/support"], "sb1/support", 3),
        ("alice", ["route", "explain", "sb1/support", "--policy", "cheapest"], "cheapest", 2),
        ("alice", ["route", "explain", "sb1/support", "--region", "mars-1"], "mars-1", 2),
        ("alice", ["route", "explain", "not a/valid/address"], "is not valid", 2),
    ],
)
def test_route_explain_errors_are_one_line(
    api: Api, key: str, args: list[str], message: str, code: int
) -> None:
    done = remote(api, getattr(api, key), *args)
    assert done.returncode == code, done.stdout + done.stderr
    assert message in one_error_line(done.stderr)
