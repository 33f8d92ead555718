"""LocalProvider behaviour beyond the contract: refusals, bad input, crash recovery, limits."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from computerouter.domain.instances import InstanceState
from computerouter.domain.values import FileSpec, LaunchSpec, Resources
from computerouter.errors import (
    InputError,
    InstanceNotFound,
    IsolationUnavailable,
    ProviderError,
    RuntimeFailure,
)
from computerouter.providers.base import Provider
from computerouter.providers.local import LocalHost, LocalProvider, probe
from computerouter.providers.local.errors import translate
from computerouter.providers.local.metadata import (
    InstancePaths,
    RecordedState,
    read_record,
    write_record,
)
from computerouter.runtimes.echo import EchoRuntime
from computerouter.runtimes.transport import client_for
from computerouter.testing.specs import echo_spec

spec = echo_spec


# -- no privileges needed ------------------------------------------------------------------


def bare(tmp_path: Path) -> LocalProvider:
    return LocalProvider(root=tmp_path / "local", host=LocalHost(is_root=False))


def test_is_a_provider(tmp_path: Path) -> None:
    provider = bare(tmp_path)
    assert isinstance(provider, Provider)
    assert provider.name == "local"
    caps = provider.capabilities
    assert caps.suspend
    assert caps.exec
    assert caps.warm_start_ms > 0


def test_no_exec_in_a_nested_user_namespace(tmp_path: Path) -> None:
    tools = dataclasses.replace(
        probe(trial=False).tools,
        bwrap="/usr/bin/bwrap",
        setsid="/usr/bin/setsid",
        nsenter="/usr/bin/nsenter",
    )
    unprivileged = LocalHost(is_root=False, tools=tools, bwrap_works=True)
    provider = LocalProvider(root=tmp_path / "local", host=unprivileged)
    assert unprivileged.userns
    assert not provider.capabilities.exec
    assert provider.capabilities.suspend


def test_refuses_to_run_unisolated_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(IsolationUnavailable, match="allow_unisolated"):
        bare(tmp_path).create(spec())
    assert not (tmp_path / "local" / "instances").exists()


def test_bad_ids_are_clear_errors(tmp_path: Path) -> None:
    provider = bare(tmp_path)
    with pytest.raises(InputError):
        provider.get("../../etc")
    with pytest.raises(InputError):
        provider.destroy("lc-x/../../y")
    with pytest.raises(InputError, match="idempotency key"):
        provider.create(spec(key="has/slash"))
    assert provider.get("someone-elses-id") is None
    with pytest.raises(InstanceNotFound):
        provider.suspend("someone-elses-id")


def test_an_empty_root_lists_nothing(tmp_path: Path) -> None:
    assert bare(tmp_path).list() == []
    (tmp_path / "local" / "instances" / ".tmp-something").mkdir(parents=True)
    (tmp_path / "local" / "instances" / "not-ours").mkdir()
    assert bare(tmp_path).list() == []


def test_os_errors_are_translated_with_their_cause() -> None:
    with pytest.raises(ProviderError) as caught, translate("archive", "lc-x"):
        open("/nonexistent/dir/file")  # noqa: SIM115
    assert caught.value.provider == "local"
    assert "archive lc-x" in str(caught.value)
    assert isinstance(caught.value.__cause__, FileNotFoundError)


# -- on a host that can isolate ------------------------------------------------------------


def _kill_tree(local: LocalProvider, instance_id: str) -> None:
    """Kill a session's processes behind the provider's back (a crash, an OOM, a reboot)."""
    deadline = time.monotonic() + 5
    while pids := local.footprint(instance_id).pids:
        assert time.monotonic() < deadline
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        time.sleep(0.01)


needs_isolation = pytest.mark.isolation


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalProvider]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"needs root, bubblewrap and cgroups: {', '.join(gaps)}")
    provider = LocalProvider(root=tmp_path / "local")
    try:
        yield provider
    finally:
        for instance in provider.list():
            provider.destroy(instance.instance_id)


@needs_isolation
def test_limits_are_written_and_enforced(local: LocalProvider) -> None:
    instance = local.create(spec(resources=Resources(cpus=0.5, memory_mb=128, pids=24)))
    groups = {p.parts[4]: p for p in local.footprint(instance.instance_id).cgroups}
    assert (groups["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert (groups["memory"] / "memory.limit_in_bytes").read_text().strip() == str(128 << 20)
    assert (groups["pids"] / "pids.max").read_text().strip() == "24"

    forks = local.exec(
        instance.instance_id,
        ["sh", "-c", "for i in $(seq 40); do sleep 5 >/dev/null 2>&1 & done; echo done"],
    )

    assert "fork" in forks.stderr.lower(), forks  # sh: Cannot fork
    assert len(local.footprint(instance.instance_id).pids) <= 24


@needs_isolation
def test_a_runtime_that_never_answers_fails_fast_and_leaves_nothing(local: LocalProvider) -> None:
    broken = LaunchSpec(
        runtime="broken", argv=("/bin/sh", "-c", "echo starting; exit 3"), start_timeout_s=10
    )
    made = spec(launch=broken)

    with pytest.raises(RuntimeFailure, match="exited") as caught:
        local.create(made)

    assert "starting" in str(caught.value)  # the log tail is in the message
    iid = "lc-" + made.idempotency_key
    assert local.footprint(iid).empty
    assert local.get(iid) is None


@needs_isolation
def test_a_runtime_that_hangs_times_out(local: LocalProvider) -> None:
    silent = LaunchSpec(runtime="silent", argv=("/bin/sleep", "60"), start_timeout_s=0.5)
    with pytest.raises(RuntimeFailure, match="did not answer"):
        local.create(spec(launch=silent))
    assert local.list() == []


@needs_isolation
def test_a_partly_made_instance_is_listed_then_rebuilt(local: LocalProvider) -> None:
    made = spec()
    first = local.create(made)
    paths = InstancePaths.of(local.root, first.instance_id)
    # Simulate a control plane that crashed mid-create: record says creating, tree gone.
    local.exec(first.instance_id, ["true"])
    record = read_record(paths)
    assert record is not None

    _kill_tree(local, first.instance_id)
    write_record(paths, record.with_state(RecordedState.CREATING))

    listed = {i.instance_id: i for i in local.list()}
    assert listed[first.instance_id].state is InstanceState.CREATING
    assert listed[first.instance_id].labels == made.labels

    again = local.create(made)

    assert again.state is InstanceState.RUNNING
    with client_for(again.endpoint) as client:  # type: ignore[arg-type]
        assert client.get("/health").status_code == 200


@needs_isolation
def test_a_stray_cgroup_is_listed_and_can_be_destroyed(local: LocalProvider) -> None:
    instance = local.create(spec())
    cgroups = local.footprint(instance.instance_id).cgroups
    _kill_tree(local, instance.instance_id)
    # The directory is lost (deleted by hand, say) but the groups remain.
    shutil.rmtree(local.root / "instances" / instance.instance_id)

    stray = local.get(instance.instance_id)
    assert stray is not None
    assert stray.state is InstanceState.CREATING
    assert stray.labels.session_id == ""
    assert instance.instance_id in [i.instance_id for i in local.list()]

    local.destroy(instance.instance_id)

    assert not any(c.exists() for c in cgroups)
    assert local.footprint(instance.instance_id).empty


@needs_isolation
def test_creating_again_a_suspended_instance_thaws_it(local: LocalProvider) -> None:
    made = spec()
    first = local.create(made)
    local.suspend(first.instance_id)

    again = local.create(made)

    assert again.instance_id == first.instance_id
    assert again.state is InstanceState.RUNNING


@needs_isolation
def test_creating_again_an_archived_instance_is_refused(local: LocalProvider) -> None:
    made = spec()
    local.archive(local.create(made).instance_id)
    with pytest.raises(ProviderError, match="restore"):
        local.create(made)


@needs_isolation
def test_runtime_files_are_read_only_inside(local: LocalProvider) -> None:
    echo = EchoRuntime().launch_spec(session_id="x")
    launch = dataclasses.replace(
        echo, files=(*echo.files, FileSpec(name="conf/settings.toml", content=b"a = 1\n"))
    )
    instance = local.create(spec(launch=launch))

    done = local.exec(
        instance.instance_id,
        [
            "sh",
            "-c",
            "cat /opt/computerouter/runtime/conf/settings.toml; "
            "echo x >> /opt/computerouter/runtime/conf/settings.toml",
        ],
    )

    assert done.stdout == "a = 1\n"
    assert done.exit_code != 0


@needs_isolation
def test_exec_times_out_and_kills_the_command(local: LocalProvider) -> None:
    instance = local.create(spec())
    done = local.exec(instance.instance_id, ["sleep", "30"], timeout_s=0.3)
    assert done.exit_code == 124
    assert "timed out" in done.stderr
    # The killed command is dead when exec returns; the session's init reaps it a moment later.
    deadline = time.monotonic() + 10
    while len(local.footprint(instance.instance_id).pids) > 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(local.footprint(instance.instance_id).pids) == 3  # bwrap pair + runtime


@needs_isolation
def test_a_deep_root_keeps_sockets_elsewhere_and_cleans_them(tmp_path: Path) -> None:
    if probe().gaps():
        pytest.skip("needs root, bubblewrap and cgroups")
    deep = tmp_path / ("d" * 80) / "local"
    provider = LocalProvider(root=deep)
    instance = provider.create(spec())
    assert instance.endpoint is not None
    socket_dir = Path(instance.endpoint.address).parent
    assert not str(socket_dir).startswith(str(deep))
    with client_for(instance.endpoint) as client:
        assert client.get("/health").status_code == 200

    provider.destroy(instance.instance_id)

    assert not socket_dir.exists()
    assert not socket_dir.parent.exists()  # the per-root socket base is gone too


@needs_isolation
def test_concurrent_creates_of_one_key_make_one_instance(local: LocalProvider) -> None:
    made = spec()
    with ThreadPoolExecutor(4) as pool:
        instances = list(pool.map(lambda _: local.create(made), range(4)))

    assert {i.instance_id for i in instances} == {"lc-" + made.idempotency_key}
    assert len(local.list()) == 1
    assert len(local.footprint(instances[0].instance_id).pids) == 3  # bwrap pair + runtime


@needs_isolation
def test_a_failed_archive_leaves_the_session_as_it_was(tmp_path: Path) -> None:
    host = probe()
    if host.gaps():
        pytest.skip("needs root, bubblewrap and cgroups")
    broken_tar = dataclasses.replace(host, tools=dataclasses.replace(host.tools, tar="/bin/false"))
    provider = LocalProvider(root=tmp_path / "local", host=broken_tar)
    instance = provider.create(spec())
    try:
        with client_for(instance.endpoint) as client:  # type: ignore[arg-type]
            assert client.put("/v1/workspace/keep.txt", content=b"still here").status_code == 200

        with pytest.raises(ProviderError, match="archive failed"):
            provider.archive(instance.instance_id)

        after = provider.get(instance.instance_id)
        assert after is not None
        assert after.state is InstanceState.RUNNING  # thawed again, not killed
        with client_for(instance.endpoint) as client:  # type: ignore[arg-type]
            assert client.get("/v1/workspace/keep.txt").content == b"still here"
    finally:
        provider.destroy(instance.instance_id)
