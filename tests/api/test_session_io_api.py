"""A session's logs (``GET .../logs``, followed over SSE at ``.../logs/follow``), exec in it
(admin keys only) and a sandbox's settings (``GET/PUT /v1/sandboxes/{id}/settings``), on a
live server through both SDKs: another user's session is not found, a tenant's key cannot
exec, and one user's sandbox settings are out of another's reach."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from computerouter.client import AsyncClient, RetryPolicy
from computerouter.domain.instances import ExecResult
from computerouter.domain.values import SessionKey
from computerouter.errors import (
    Conflict,
    Forbidden,
    InputError,
    LogsArchived,
    SessionNotFound,
)
from computerouter.testing.fakes import FakeProvider
from computerouter.testing.live_api import Api


def alice_session(api: Api) -> str:
    client = api.client(api.alice)
    client.agents.create("sb1", slug="support", prompt="Be kind.")
    list(client.runs.stream("sb1/support", "hello"))
    [session] = client.compute.sessions.list()
    return session.id


def provider(api: Api) -> FakeProvider:
    found = api.agents.compute.provider("local")
    assert isinstance(found, FakeProvider)
    return found


def instance_of(api: Api, session_id: str) -> str:
    instance = api.agents.compute.get(session_id).instance_id
    assert instance is not None
    return instance


def call(api: Api, key: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.request(method, api.url + path, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def pumps(besides: frozenset[threading.Thread] = frozenset()) -> set[threading.Thread]:
    """The log pumps of this process's servers, but those in ``besides``."""
    return {t for t in threading.enumerate() if t.name == "session-logs"} - besides


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


# logs


def test_logs_are_the_providers_last_lines(api: Api) -> None:
    session_id = alice_session(api)
    instance = instance_of(api, session_id)
    for n in range(5):
        provider(api).write_log(instance, f"line {n}")
    provider(api).write_log(instance, "a runtime's own", source="hermes/logs/agent.log")
    expected = [(x.source, x.text) for x in provider(api).logs(instance, lines=3)]
    got = api.client(api.alice).compute.sessions.logs(session_id, lines=3)
    assert [(x.source, x.text) for x in got] == expected
    assert expected[-1] == ("hermes/logs/agent.log", "a runtime's own")
    assert api.client(api.alice).compute.sessions.logs(session_id, lines=0) == []
    with pytest.raises(InputError):
        api.client(api.alice).compute.sessions.logs(session_id, lines=-1)


def test_followed_logs_stream_new_lines_and_end_with_the_instance(api: Api) -> None:
    session_id = alice_session(api)
    instance = instance_of(api, session_id)
    provider(api).write_log(instance, "before")
    earlier = frozenset(pumps())
    follow = api.client(api.alice).compute.sessions.follow_logs(session_id, lines=1)
    assert next(follow).text == "before"
    wait_until(lambda: bool(pumps(earlier)), "the server follows the log")
    provider(api).write_log(instance, "after")
    assert next(follow).text == "after"
    api.agents.compute.destroy(session_id)
    rest = [line.text for line in follow]  # the stream ends: the instance is gone
    assert "after" not in rest
    wait_until(lambda: not pumps(earlier), "the pump ends with the stream")


def test_a_follower_that_hangs_up_leaves_no_pump_behind(api: Api) -> None:
    session_id = alice_session(api)
    instance = instance_of(api, session_id)
    earlier = frozenset(pumps())
    follow = api.client(api.alice).compute.sessions.follow_logs(session_id, lines=1)
    next(follow)
    wait_until(lambda: bool(pumps(earlier)), "the server follows the log")
    follow.close()  # the client hangs up

    def gone() -> bool:
        # A pump gets control back from the provider with a line: the first one after the
        # server saw the hang-up stops it.
        provider(api).write_log(instance, "nobody reads this")
        return not pumps(earlier)

    wait_until(gone, "the pump stops once its client is gone")
    assert api.client(api.alice).compute.sessions.get(session_id).state == "running"


def test_an_archived_session_is_logs_archived_and_a_destroyed_one_a_conflict(api: Api) -> None:
    session_id = alice_session(api)
    api.client(api.alice).compute.sessions.archive(session_id)
    sessions = api.client(api.alice).compute.sessions
    for read in (lambda: sessions.logs(session_id), lambda: next(sessions.follow_logs(session_id))):
        with pytest.raises(LogsArchived) as archived:
            read()
        assert archived.value.message.startswith(f"session {session_id} is archived: its logs")
        assert getattr(archived.value, "session_id", None) == session_id
    raw = call(api, api.alice, "GET", f"/v1/compute/sessions/{session_id}/logs")
    assert (raw.status_code, raw.json()["error"]["code"]) == (409, "logs_archived")
    sessions.destroy(session_id)
    with pytest.raises(Conflict, match="destroyed"):
        sessions.logs(session_id)


def test_another_users_session_logs_are_not_found(api: Api) -> None:
    session_id = alice_session(api)
    for path in ("logs", "logs/follow"):
        refused = call(api, api.bob, "GET", f"/v1/compute/sessions/{session_id}/{path}")
        assert refused.status_code == 404, path
        assert refused.json()["error"]["code"] == "session_not_found"
    with pytest.raises(SessionNotFound):
        next(api.client(api.bob).compute.sessions.follow_logs(session_id))
    assert api.client(api.admin).compute.sessions.logs(session_id)


# exec


def test_exec_is_for_admin_keys_only(api: Api) -> None:
    session_id = alice_session(api)
    seen: list[list[str]] = []

    def answer(_instance: str, argv: list[str]) -> ExecResult:
        seen.append(argv)
        return ExecResult(exit_code=7, stdout="uid=1000\n", stderr="careful\n")

    provider(api).on_exec = answer
    for key in (api.alice, api.bob):
        with pytest.raises(Forbidden):
            api.client(key).compute.sessions.exec(session_id, ["id", "-u"])
    refused = call(
        api, api.alice, "POST", f"/v1/compute/sessions/{session_id}/exec", json={"argv": ["id"]}
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    assert seen == []
    done = api.client(api.admin).compute.sessions.exec(session_id, ["id", "-u"], timeout_s=5)
    assert (done.exit_code, done.stdout, done.stderr) == (7, "uid=1000\n", "careful\n")
    assert seen == [["id", "-u"]]
    with pytest.raises(SessionNotFound):
        api.client(api.admin).compute.sessions.exec("ses_nosuchsession", ["id"])


def test_exec_refusals(api: Api) -> None:
    session_id = alice_session(api)
    admin = api.client(api.admin).compute.sessions
    path = f"/v1/compute/sessions/{session_id}/exec"
    for body in ({"argv": []}, {"argv": ["id"], "timeout_s": 0}, {"argv": ["a\x00b"]}):
        bad = call(api, api.admin, "POST", path, json=body)
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_input"), body
    api.agents.compute.suspend(session_id)
    with pytest.raises(Conflict, match="exec needs it running"):
        admin.exec(session_id, ["id"])


# sandbox settings


def test_sandbox_settings_round_trip_with_the_servers_defaults(api: Api) -> None:
    alice = api.client(api.alice).sandboxes
    fresh = alice.settings("sb1")
    assert (fresh.idle_suspend_s, fresh.archive_after_s, fresh.max_run_s) == (None, None, None)
    assert fresh.defaults.idle_suspend_s == api.settings.idle_suspend_s
    assert fresh.defaults.archive_after_s == api.settings.archive_after_s
    assert fresh.defaults.max_uptime_s == api.settings.max_uptime_s
    written = alice.set_settings("sb1", idle_suspend_s=60, max_run_s=120)
    assert alice.settings("sb1") == written
    assert (written.idle_suspend_s, written.max_run_s, written.archive_after_s) == (60, 120, None)
    stored = api.agents.compute.store.sandboxes.get(SessionKey(user_id="alice", sandbox_id="sb1"))
    assert stored == written.to_settings()
    assert alice.set_settings("sb1").idle_suspend_s is None  # back to the default


@pytest.mark.parametrize(
    "body",
    [
        {"idle_suspend_s": 0},
        {"idle_suspend_s": 600, "archive_after_s": 60},
        {"archive_after_s": 60},  # shorter than the default idle suspend
        {"max_run_s": -1},
        {"max_uptime_s": 1e300},
        {"surprise": 1},
    ],
)
def test_bad_sandbox_settings_are_refused_and_change_nothing(
    api: Api, body: dict[str, object]
) -> None:
    api.client(api.alice).sandboxes.set_settings("sb1", idle_suspend_s=300)
    refused = call(api, api.alice, "PUT", "/v1/sandboxes/sb1/settings", json=body)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_input")
    assert api.client(api.alice).sandboxes.settings("sb1").idle_suspend_s == 300


def test_one_users_sandbox_settings_are_out_of_anothers_reach(api: Api) -> None:
    api.client(api.alice).sandboxes.set_settings("sb1", idle_suspend_s=60)
    bob = api.client(api.bob).sandboxes
    assert bob.settings("sb1").idle_suspend_s is None  # his own sb1, not alice's
    bob.set_settings("sb1", idle_suspend_s=120)
    assert api.client(api.alice).sandboxes.settings("sb1").idle_suspend_s == 60
    as_alice = api.client(api.admin, act_for="alice").sandboxes.settings("sb1")
    assert (as_alice.user_id, as_alice.idle_suspend_s) == ("alice", 60)
    with pytest.raises(Forbidden):
        api.client(api.bob, act_for="alice").sandboxes.settings("sb1")


# the async SDK


def test_the_async_sdk_makes_the_same_calls(api: Api) -> None:
    session_id = alice_session(api)
    instance = instance_of(api, session_id)
    provider(api).on_exec = lambda _i, argv: ExecResult(
        exit_code=0, stdout=" ".join(argv), stderr=""
    )
    provider(api).write_log(instance, "hello")

    async def scenario() -> None:
        retries = RetryPolicy(attempts=1)
        async with (
            AsyncClient(api.url, api.alice, retries=retries) as alice,
            AsyncClient(api.url, api.admin, retries=retries) as admin,
        ):
            lines = await alice.compute.sessions.logs(session_id, lines=1)
            assert [x.text for x in lines] == ["hello"]
            async with contextlib.aclosing(
                alice.compute.sessions.follow_logs(session_id, lines=1)
            ) as follow:
                async for line in follow:
                    assert line.text == "hello"
                    break
            with pytest.raises(Forbidden):
                await alice.compute.sessions.exec(session_id, ["id"])
            assert (await admin.compute.sessions.exec(session_id, ["echo", "hi"])).stdout == (
                "echo hi"
            )
            written = await alice.sandboxes.set_settings("sb1", max_uptime_s=3600)
            assert (await alice.sandboxes.settings("sb1")) == written
            assert written.max_uptime_s == 3600

    asyncio.run(scenario())
    provider(api).write_log(instance, "the line that lets the hung-up follower's pump stop")
