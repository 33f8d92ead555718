"""The CLI against a server (``--server URL`` with an API key): the same commands, through the
SDK, rendered by the same code as embedded; scoped to the key's user; commands that need this
machine's own store say so in one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from bounded_cli import InProcess, inprocess_cli

from computerouter.cli.agents import agent_dict
from computerouter.domain.agents import AgentAddress
from computerouter.testing.live_api import Api, live_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    (tmp_path / "server").mkdir()
    with live_api(tmp_path / "server") as world:
        yield world


def cli(api: Api, key: str, home: Path, *args: str) -> InProcess:
    return inprocess_cli(home, "--server", api.url, "--api-key", key, *args)


def test_the_seed_commands_through_a_server(api: Api, tmp_path: Path) -> None:
    home = tmp_path / "client-home"  # nothing of the server's lives here
    prompt = tmp_path / "prompt.md"
    prompt.write_text("You are support.\n")

    made = cli(api, api.alice, home, "agent", "create", "sb1/support", "--prompt-file", str(prompt))
    assert made.returncode == 0, made.stderr
    assert "created agent sb1/support" in made.stdout
    record = api.agents.resolve("alice", AgentAddress(sandbox_id="sb1", slug="support"))
    listed = cli(api, api.alice, home, "agent", "list", "--json")
    assert json.loads(listed.stdout) == [agent_dict(record)]  # what embedded would print
    shown = cli(api, api.alice, home, "agent", "show", "sb1/support")
    assert "You are support." in shown.stdout
    updated = cli(
        api, api.alice, home, "agent", "update", "sb1/support", "--compute-policy", "cost-aware"
    )
    assert updated.returncode == 0, updated.stderr
    assert "policy: cost-aware" in updated.stdout

    ran = cli(api, api.alice, home, "run", "sb1/support", "hello")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "run completed" in ran.stdout

    sessions = json.loads(cli(api, api.alice, home, "compute", "sessions", "list", "--json").stdout)
    assert [(s["sandbox_id"], s["state"]) for s in sessions] == [("sb1", "running")]
    sid = sessions[0]["id"]
    for verb, state in (("suspend", "suspended"), ("resume", "running"), ("archive", "archived")):
        acted = cli(api, api.alice, home, "compute", "sessions", verb, sid, "--json")
        assert acted.returncode == 0, acted.stderr
        assert json.loads(acted.stdout)["state"] == state
    assert api.agents.compute.get(sid).state.value == "archived"  # the server's own record
    table = cli(api, api.alice, home, "compute", "sessions", "show", sid)
    assert sid in table.stdout
    gone = cli(api, api.alice, home, "compute", "sessions", "destroy", sid, "--json")
    assert json.loads(gone.stdout)["state"] == "destroyed"

    deleted = cli(api, api.alice, home, "agent", "delete", "sb1/support")
    assert deleted.returncode == 0, deleted.stderr
    assert not (home / "computerouter.db").exists()  # the client home was never used


def test_another_tenants_key_sees_nothing(api: Api, tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.md"
    prompt.write_text("mine")
    home = tmp_path / "h"
    assert (
        cli(
            api, api.alice, home, "agent", "create", "sb1/x", "--prompt-file", str(prompt)
        ).returncode
        == 0
    )
    assert json.loads(cli(api, api.bob, home, "agent", "list", "--json").stdout) == []
    refused = cli(api, api.bob, home, "agent", "show", "sb1/x")
    assert refused.returncode != 0
    assert refused.stderr.strip().count("\n") == 0
    assert "sb1/x" in refused.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compute", "reap"], "not available with --server"),
        (["--server", "ftp://x", "agent", "list"], "--server must be an http(s):// URL"),
    ],
)
def test_bad_or_local_only_input_is_one_line(
    api: Api, tmp_path: Path, args: list[str], message: str
) -> None:
    done = cli(api, api.alice, tmp_path / "h", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_server_without_a_key_is_one_line(api: Api, tmp_path: Path) -> None:
    done = inprocess_cli(tmp_path / "h", "--server", api.url, "agent", "list")
    assert done.returncode == 2
    assert "--server needs an API key" in done.stderr
