"""The daytona provider, on the official SDK, against the emulator, with the echo runtime."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from computerouter.domain.instances import Instance, InstanceState
from computerouter.domain.values import RuntimeImage
from computerouter.emulators.daytona import EmulatorServer
from computerouter.errors import (
    InstanceNotFound,
    ProviderError,
    ProviderUnavailable,
    RuntimeFailure,
)
from computerouter.providers.base import InstanceSpec
from computerouter.providers.daytona.provider import DaytonaProvider
from computerouter.runtimes.transport import client_for

pytestmark = pytest.mark.isolation
SpecFactory = Callable[..., InstanceSpec]


def _health(instance: Instance) -> httpx.Response:
    assert instance.endpoint is not None
    with client_for(instance.endpoint, timeout_s=5) as client:
        return client.get("/health")


def test_create_get_list_and_a_turn_reach_the_echo_runtime(
    daytona: DaytonaProvider, echo_spec: SpecFactory
) -> None:
    spec = echo_spec(user_id="alice", sandbox_id="box-1", agent_id="a-1", run_id="r-1")

    instance = daytona.create(spec)

    assert instance.state is InstanceState.RUNNING
    assert instance.region == "us"
    assert instance.endpoint is not None
    assert instance.endpoint.kind == "http"
    assert _health(instance).json()["status"] == "ok"
    with client_for(instance.endpoint) as client:
        reply = client.post(
            "/v1/chat/completions",
            json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert reply.json()["choices"][0]["message"]["content"] == "echo: hi"
    got = daytona.get(instance.instance_id)
    assert got is not None
    assert got.labels == spec.labels
    assert [i.labels for i in daytona.list()] == [spec.labels]
    daytona.keep_alive(instance.instance_id)


def test_create_is_idempotent_on_the_session(
    daytona: DaytonaProvider, echo_spec: SpecFactory
) -> None:
    spec = echo_spec()
    first = daytona.create(spec)
    pid = _health(first).json()["pid"]

    second = daytona.create(spec)

    assert second.instance_id == first.instance_id
    assert _health(second).json()["pid"] == pid
    assert len(daytona.list()) == 1


def test_suspend_resume_archive_restore_destroy(
    daytona: DaytonaProvider, echo_spec: SpecFactory
) -> None:
    spec = echo_spec()
    instance = daytona.create(spec)
    iid = instance.instance_id
    assert instance.endpoint is not None
    with client_for(instance.endpoint) as client:
        assert client.put("/v1/workspace/notes.txt", content=b"kept").status_code == 200

    assert daytona.suspend(iid).state is InstanceState.SUSPENDED
    assert daytona.resume(iid).state is InstanceState.RUNNING
    assert _health(instance).status_code == 200
    assert daytona.archive(iid).state is InstanceState.ARCHIVED
    restored = daytona.restore(iid, spec)
    assert restored.state is InstanceState.RUNNING
    assert restored.endpoint is not None
    with client_for(restored.endpoint) as client:
        assert client.get("/v1/workspace/notes.txt").content == b"kept"

    daytona.destroy(iid)
    daytona.destroy(iid)
    assert daytona.get(iid) is None
    with pytest.raises(InstanceNotFound):
        daytona.suspend(iid)


def test_exec_runs_in_the_sandbox(daytona: DaytonaProvider, echo_spec: SpecFactory) -> None:
    iid = daytona.create(echo_spec()).instance_id
    ran = daytona.exec(iid, ["sh", "-c", "echo hi; exit 3"])
    assert (ran.exit_code, ran.stdout.strip()) == (3, "hi")


def test_an_unknown_region_is_one_clear_error_and_leaves_nothing(
    daytona: DaytonaProvider, echo_spec: SpecFactory
) -> None:
    with pytest.raises(ProviderError, match="Region mars") as caught:
        daytona.create(echo_spec(region="mars"))
    assert not caught.value.retryable
    assert daytona.list() == []


def test_a_wrong_api_key_is_refused_in_one_line(emulator: EmulatorServer) -> None:
    wrong = DaytonaProvider(api_url=emulator.api_url, api_key="nope", router_id="test")
    with pytest.raises(ProviderUnavailable, match="api_key") as caught:
        wrong.list()
    assert not caught.value.retryable
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "retry_after", "kind", "retryable"),
    [
        (429, 4.0, ProviderError, True),
        (503, 2.0, ProviderUnavailable, True),
        (500, None, ProviderUnavailable, True),
        (403, None, ProviderUnavailable, True),  # quota message below: capacity
    ],
)
def test_injected_faults_map_to_the_right_error(
    daytona: DaytonaProvider,
    emulator: EmulatorServer,
    status: int,
    retry_after: float | None,
    kind: type[ProviderError],
    retryable: bool,
) -> None:
    message = "Total CPU quota exceeded" if status == 403 else "injected"
    fault = {"route": "GET /api/sandbox", "status": status, "message": message}
    if retry_after is not None:
        fault["retry_after_s"] = retry_after
    httpx.post(f"{emulator.base_url}/admin/faults", json=fault).raise_for_status()

    with pytest.raises(ProviderError) as caught:
        daytona.list()

    assert type(caught.value) is kind
    assert caught.value.retryable is retryable
    assert caught.value.retry_after_s == retry_after
    assert daytona.list() == []  # the fault fired once


def test_a_vanished_sandbox_is_gone(
    daytona: DaytonaProvider, emulator: EmulatorServer, echo_spec: SpecFactory
) -> None:
    iid = daytona.create(echo_spec()).instance_id
    httpx.post(f"{emulator.base_url}/admin/sandboxes/{iid}/vanish").raise_for_status()
    assert daytona.get(iid) is None
    assert daytona.list() == []


def test_a_slow_api_is_a_retryable_timeout(emulator: EmulatorServer) -> None:
    provider = DaytonaProvider(
        api_url=emulator.api_url, api_key="emulator-key", router_id="test", request_timeout_s=1.0
    )
    fault = {"route": "GET /api/sandbox", "status": 0, "delay_s": 3.0}
    httpx.post(f"{emulator.base_url}/admin/faults", json=fault).raise_for_status()

    with pytest.raises(ProviderError, match=r"timed out|timeout") as caught:
        provider.list()

    assert caught.value.retryable


def test_a_quota_refusal_at_create_is_capacity_and_leaves_nothing(
    daytona: DaytonaProvider, emulator: EmulatorServer, echo_spec: SpecFactory
) -> None:
    fault = {"route": "POST /api/sandbox", "status": 403, "message": "Total CPU quota exceeded"}
    httpx.post(f"{emulator.base_url}/admin/faults", json=fault).raise_for_status()

    with pytest.raises(ProviderUnavailable) as caught:
        daytona.create(echo_spec())

    assert caught.value.retryable
    assert daytona.list() == []
    assert emulator.emulator.sandboxes.local.list() == []


def test_resume_starts_the_runtime_again_when_its_process_is_gone(
    daytona: DaytonaProvider, echo_spec: SpecFactory
) -> None:
    """Daytona's stop ends every process: a start must bring the runtime back by itself."""
    instance = daytona.create(echo_spec())
    iid = instance.instance_id
    pid = _health(instance).json()["pid"]
    daytona.exec(iid, ["sh", "-c", f"kill {pid}"])
    daytona.suspend(iid)

    resumed = daytona.resume(iid)

    answer = _health(resumed)
    assert answer.status_code == 200
    assert answer.json()["pid"] != pid


def test_without_its_snapshot_the_runtime_is_installed_on_first_boot(
    daytona: DaytonaProvider, echo_spec: SpecFactory
) -> None:
    spec = echo_spec()
    image = RuntimeImage(
        name="toy",
        version="1",
        target="/workspace/.toy",
        install=("sh", "-c", "mkdir -p /workspace/.toy && echo built > /workspace/.toy/marker"),
    )
    spec = replace(spec, launch=replace(spec.launch, image=image))

    instance = daytona.create(spec)

    assert _health(instance).status_code == 200
    marker = daytona.exec(instance.instance_id, ["cat", "/workspace/.toy/marker"])
    assert marker.stdout.strip() == "built"


def test_a_failed_install_is_one_error_and_leaves_nothing(
    daytona: DaytonaProvider, echo_spec: SpecFactory
) -> None:
    spec = echo_spec()
    image = RuntimeImage(name="toy", version="2", target="/x", install=("sh", "-c", "exit 7"))
    spec = replace(spec, launch=replace(spec.launch, image=image))

    with pytest.raises(RuntimeFailure, match=r"installing computerouter-toy-2 .* failed \(7\)"):
        daytona.create(spec)

    assert daytona.list() == []


class _StaleCopy:
    """A sandbox copy whose ``start`` returned while a poll it had in flight wrote back the
    ``starting`` it read before: the next reads say ``started``."""

    id = "sb-stale"

    def __init__(self, stale_reads: int) -> None:
        self.state = "starting"
        self._stale_reads = stale_reads
        self.reads = 0

    def refresh_data(self) -> None:
        self.reads += 1
        if self.reads > self._stale_reads:
            self.state = "started"


def test_a_start_whose_copy_still_says_starting_is_read_again_until_started(
    daytona: DaytonaProvider,
) -> None:
    sandbox = _StaleCopy(stale_reads=2)

    daytona._settle_started(sandbox)

    assert sandbox.state == "started"
    assert sandbox.reads == 3


def test_a_copy_that_never_says_started_is_a_retryable_error(emulator: EmulatorServer) -> None:
    provider = DaytonaProvider(
        api_url=emulator.api_url,
        api_key="emulator-key",
        target="us",
        router_id="test",
        settle_timeout_s=0.05,
    )
    with pytest.raises(ProviderError) as raised:
        provider._settle_started(_StaleCopy(stale_reads=10**9))
    assert raised.value.retryable
    assert "still starting" in str(raised.value)
