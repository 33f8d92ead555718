"""The official Daytona SDK, pointed at the emulator, works end to end."""

from __future__ import annotations

import time

import httpx
import pytest
from daytona import (
    CreateSandboxFromSnapshotParams,
    Daytona,
    DaytonaAuthenticationError,
    DaytonaConfig,
    ListSandboxesQuery,
    SandboxState,
)

from computerouter.emulators.daytona import EmulatorServer

pytestmark = pytest.mark.isolation


def _client(emulator: EmulatorServer, key: str = "emulator-key") -> Daytona:
    return Daytona(DaytonaConfig(api_url=emulator.api_url, api_key=key, target="eu"))


def test_the_sdk_runs_a_sandbox_through_its_whole_life(emulator: EmulatorServer) -> None:
    daytona = _client(emulator)
    params = CreateSandboxFromSnapshotParams(
        labels={"user_id": "u1", "sandbox_id": "s1"}, auto_stop_interval=0
    )
    sandbox = daytona.create(params, timeout=30)
    assert sandbox.state == SandboxState.STARTED
    assert sandbox.target == "eu"

    listed = list(daytona.list(ListSandboxesQuery(labels={"user_id": "u1"})))
    assert [s.id for s in listed] == [sandbox.id]
    assert list(daytona.list(ListSandboxesQuery(labels={"user_id": "nobody"}))) == []

    ran = sandbox.process.exec("echo hi")
    assert ran.exit_code == 0
    assert ran.result.strip() == "hi"

    sandbox.stop(timeout=30)
    assert daytona.get(sandbox.id).state == SandboxState.STOPPED
    sandbox.start(timeout=30)
    assert sandbox.process.exec("echo again").result.strip() == "again"
    sandbox.stop(timeout=30)
    sandbox.archive()
    # The SDK's archive does not wait: poll, as the adapter does, until Daytona says archived.
    for _ in range(600):
        if daytona.get(sandbox.id).state == SandboxState.ARCHIVED:
            break
        time.sleep(0.05)
    assert daytona.get(sandbox.id).state == SandboxState.ARCHIVED
    sandbox.start(timeout=60)
    assert sandbox.process.exec("echo restored").result.strip() == "restored"
    sandbox.refresh_activity()

    sandbox.delete(wait=True, timeout=30)
    assert list(daytona.list()) == []
    assert emulator.emulator.event_connections >= 1, "the SDK waited without the event stream"


def test_preview_link_reaches_a_port_inside_the_sandbox(emulator: EmulatorServer) -> None:
    daytona = _client(emulator)
    sandbox = daytona.create(timeout=30)
    sandbox.fs.upload_file(b"hello from inside\n", "/workspace/site/index.html")
    sandbox.process.create_session("web")
    from daytona import SessionExecuteRequest

    sandbox.process.execute_session_command(
        "web",
        SessionExecuteRequest(
            command="cd /workspace/site && exec python3 -m http.server 8000", run_async=True
        ),
    )
    link = sandbox.get_preview_link(8000)
    headers = {"x-daytona-preview-token": link.token}
    deadline = time.monotonic() + 30
    while True:
        try:
            got = httpx.get(f"{link.url}/index.html", headers=headers, timeout=2)
            if got.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the server in the sandbox never answered"
        time.sleep(0.05)
    assert got.text == "hello from inside\n"
    assert httpx.get(f"{link.url}/index.html", timeout=2).status_code == 401
    daytona.delete(sandbox)


def test_a_wrong_api_key_is_refused(emulator: EmulatorServer) -> None:
    with pytest.raises(DaytonaAuthenticationError):
        list(_client(emulator, key="wrong").list())
