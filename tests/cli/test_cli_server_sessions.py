"""The CLI's session commands against a server (``--server URL`` with an API key):
``compute sessions recover|logs|exec`` and ``compute sandboxes set|show`` print what the
embedded command prints on the same store, through the SDK; scoped to the key's user (another
user's session is not found; exec needs an admin key); errors are one line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bounded_cli import InProcess, inprocess_cli, one_error_line

from computerouter.domain.instances import ExecResult
from computerouter.domain.logs import LogLine
from computerouter.domain.states import SessionState
from computerouter.testing.environment import child_env
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


# logs


def printed(lines: list[LogLine]) -> str:
    """What ``compute sessions logs`` prints for these lines, embedded or not."""
    return "".join(f"{line.source} | {line.text}\n" for line in lines)


def test_logs_through_a_server_print_what_embedded_prints(api: Api) -> None:
    session_id = alice_session(api)
    instance = api.agents.compute.get(session_id).instance_id
    assert instance is not None
    for n in range(3):
        fake_provider(api).write_log(instance, f"line {n} [bold]not markup[/]")
    shown = remote(api, api.alice, "compute", "sessions", "logs", session_id, "-n", "2")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == printed(list(fake_provider(api).logs(instance, lines=2)))
    assert shown.stdout.endswith("session | line 2 [bold]not markup[/]\n")
    none = remote(api, api.alice, "compute", "sessions", "logs", session_id, "--lines", "0")
    assert (none.returncode, none.stdout) == (0, "")
    hidden = remote(api, api.bob, "compute", "sessions", "logs", session_id)
    assert hidden.returncode == 3
    assert session_id in one_error_line(hidden.stderr)


def test_followed_logs_through_a_server_run_until_the_instance_is_gone(api: Api) -> None:
    session_id = alice_session(api)
    instance = api.agents.compute.get(session_id).instance_id
    assert instance is not None
    tail = list(fake_provider(api).logs(instance, lines=1))
    env = child_env()
    env |= {"COMPUTEROUTER_URL": api.url, "COMPUTEROUTER_API_KEY": api.alice}
    env["COMPUTEROUTER_HOME"] = str(api.settings.home / "client")
    argv = ["compute", "sessions", "logs", session_id, "-n", "1", "--follow"]
    follow = subprocess.Popen(
        [sys.executable, "-m", "computerouter", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == printed(tail)
        fake_provider(api).write_log(instance, "a new line")
        assert follow.stdout.readline() == "session | a new line\n"
        api.agents.compute.destroy(session_id)  # the stream ends with the instance
        _, err = follow.communicate(timeout=30)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert follow.returncode == 0, err
    assert err == ""


def test_log_refusals_through_a_server_are_the_embedded_ones(api: Api) -> None:
    session_id = alice_session(api)
    api.agents.compute.archive(session_id)
    archived = remote(api, api.alice, "compute", "sessions", "logs", session_id)
    assert archived.returncode == 4
    instance = api.agents.compute.get(session_id).instance_id
    assert one_error_line(archived.stderr) == (
        f"error: session {session_id} is archived: its logs are in its archive, the local "
        f"archive of {instance}; they are back here once it resumes (computerouter compute "
        f"sessions resume {session_id})"
    )
    api.agents.compute.destroy(session_id)
    for args in ([session_id], ["ses_nosuchsession"], [session_id, "--lines", "-1"]):
        there = remote(api, api.alice, "compute", "sessions", "logs", *args)
        here = embedded(api, "compute", "sessions", "logs", *args)
        assert there.returncode == here.returncode != 0, args
        assert one_error_line(there.stderr) == one_error_line(here.stderr), args


# exec


def test_exec_through_a_server_needs_an_admin_key(api: Api) -> None:
    session_id = alice_session(api)
    fake_provider(api).on_exec = lambda _instance, argv: ExecResult(
        exit_code=3, stdout=f"ran {' '.join(argv)}\n", stderr="a warning\n"
    )
    ran = remote(api, api.admin, "compute", "sessions", "exec", session_id, "--", "id", "-u")
    assert (ran.returncode, ran.stdout, ran.stderr) == (3, "ran id -u\n", "a warning\n")
    for key in (api.alice, api.bob):
        refused = remote(api, key, "compute", "sessions", "exec", session_id, "--", "id")
        assert refused.returncode == 1
        assert "admin key" in one_error_line(refused.stderr)
    instance = api.agents.compute.get(session_id).instance_id
    assert [c for c in fake_provider(api).calls if c[0] == "exec"] == [("exec", instance)]


def test_exec_refusals_through_a_server_are_the_embedded_ones(api: Api) -> None:
    session_id = alice_session(api)
    api.agents.compute.suspend(session_id)
    for args in (
        [session_id, "--", "id"],
        ["ses_nosuchsession", "--", "id"],
        [session_id, "--timeout", "0", "--", "id"],
        [session_id],
    ):
        there = remote(api, api.admin, "compute", "sessions", "exec", *args)
        here = embedded(api, "compute", "sessions", "exec", *args)
        assert there.returncode == here.returncode != 0, args
        assert one_error_line(there.stderr) == one_error_line(here.stderr), args


# sandboxes


def test_sandbox_settings_through_a_server_print_what_embedded_prints(api: Api) -> None:
    where = ("--user", "alice", "--sandbox", "sb1")
    fresh = remote(api, api.alice, "compute", "sandboxes", "show", *where)
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout == embedded(api, "compute", "sandboxes", "show", *where).stdout
    assert "15m00s (default)" in fresh.stdout
    flags = ("--idle-suspend", "5m", "--max-run", "90s")
    written = remote(api, api.alice, "compute", "sandboxes", "set", *where, *flags)
    assert written.returncode == 0, written.stderr
    assert "suspend after 5m00s idle" in written.stdout
    assert "runs stop after 1m30s," in written.stdout
    here = embedded(api, "compute", "sandboxes", "show", *where)
    assert (
        here.stdout
        == written.stdout
        == remote(api, api.alice, "compute", "sandboxes", "show", *where).stdout
    )
    reset = remote(api, api.alice, "compute", "sandboxes", "set", *where, "--max-run", "default")
    assert "runs stop after 1h00m (default)" in reset.stdout
    assert "suspend after 5m00s idle" in reset.stdout  # the flags not given are kept


def test_sandbox_settings_through_a_server_are_the_users_own(api: Api) -> None:
    alice = ("--user", "alice", "--sandbox", "sb1")
    set_alice = remote(
        api, api.alice, "compute", "sandboxes", "set", *alice, "--idle-suspend", "1m"
    )
    assert set_alice.returncode == 0, set_alice.stderr
    bob = remote(api, api.bob, "compute", "sandboxes", "show", "--user", "bob", "--sandbox", "sb1")
    assert "15m00s (default)" in bob.stdout
    spying = remote(api, api.bob, "compute", "sandboxes", "show", *alice)
    assert spying.returncode == 1
    assert "admin key" in one_error_line(spying.stderr)
    as_admin = remote(api, api.admin, "compute", "sandboxes", "show", *alice)
    assert "suspend after 1m00s idle" in as_admin.stdout


def test_sandbox_setting_refusals_through_a_server_are_the_embedded_ones(api: Api) -> None:
    where = ("--user", "alice", "--sandbox", "sb1")
    for flags in (
        ("--idle-suspend", "1h", "--archive-after", "1m"),
        ("--archive-after", "1m"),
        ("--idle-suspend", "0"),
        ("--max-uptime", "forever"),
    ):
        there = remote(api, api.alice, "compute", "sandboxes", "set", *where, *flags)
        here = embedded(api, "compute", "sandboxes", "set", *where, *flags)
        assert there.returncode == here.returncode == 2, flags
        assert one_error_line(there.stderr) == one_error_line(here.stderr), flags
