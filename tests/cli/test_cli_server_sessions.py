"""The CLI's session commands against a server (``--server URL`` with an API key):
``compute sessions recover``, ``compute sandboxes set|show`` and ``compute sessions logs``
print what the embedded command prints on the same store, through the SDK; scoped to the
key's user (another user's session is not found); errors are one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from bounded_cli import InProcess, inprocess_cli, one_error_line

from computerouter.domain.states import SessionState
from computerouter.testing.fakes import FakeProvider
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
    return inprocess_cli(api.settings.home / "client", "--server", api.url, "--api-key", key, *args)


def embedded(api: Api, *args: str) -> InProcess:
    return inprocess_cli(api.settings.home, *args)


def alice_session(api: Api) -> str:
    [session] = api.client(api.alice).compute.sessions.list()
    return session.id


def fake_provider(api: Api) -> FakeProvider:
    provider = api.agents.compute.provider("local")
    assert isinstance(provider, FakeProvider)
    return provider


# recover


def failed_with_archive(api: Api) -> str:
    """Alice's session archived, then failed with its archive kept on the provider."""
    compute = api.agents.compute
    session_id = alice_session(api)
    archived = compute.archive(session_id)
    compute.store.sessions.transition(
        session_id, expected=archived.state, target=SessionState.FAILED, now=compute.clock.now()
    )
    return session_id


def test_recover_through_a_server(api: Api) -> None:
    session_id = failed_with_archive(api)
    hidden = remote(api, api.bob, "compute", "sessions", "recover", session_id)
    assert hidden.returncode == 3
    assert session_id in one_error_line(hidden.stderr)
    assert api.agents.compute.get(session_id).state is SessionState.FAILED
    done = remote(api, api.alice, "compute", "sessions", "recover", session_id, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "archived"
    assert api.agents.compute.get(session_id).state is SessionState.ARCHIVED
    shown = remote(api, api.alice, "compute", "sessions", "show", session_id, "--json")
    here = embedded(api, "compute", "sessions", "show", session_id, "--json")
    assert json.loads(shown.stdout)["state"] == json.loads(here.stdout)["state"] == "archived"


def test_recover_refusals_are_the_embedded_ones(api: Api) -> None:
    session_id = alice_session(api)  # running: nothing to recover
    there = remote(api, api.alice, "compute", "sessions", "recover", session_id)
    here = embedded(api, "compute", "sessions", "recover", session_id)
    assert there.returncode == here.returncode != 0
    assert one_error_line(there.stderr) == one_error_line(here.stderr)
    assert api.agents.compute.get(session_id).state is SessionState.RUNNING
