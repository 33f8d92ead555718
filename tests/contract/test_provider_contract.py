"""What every provider promises (see ``providers/base.py``), checked by its outcomes."""

from __future__ import annotations

import tarfile
import time
from pathlib import Path

import httpx
import pytest
from provider_harness import ProviderHarness, SpecFactory

from computerouter.domain.instances import Instance, InstanceState
from computerouter.errors import InstanceNotFound, LogsArchived
from computerouter.providers.base import Provider, WorkspaceTransfer
from computerouter.runtimes.transport import client_for

pytestmark = pytest.mark.isolation


def _client(instance: Instance, timeout_s: float = 5.0) -> httpx.Client:
    assert instance.endpoint is not None, f"{instance.instance_id} has no endpoint"
    return client_for(instance.endpoint, timeout_s=timeout_s)


def _health(instance: Instance) -> httpx.Response:
    with _client(instance) as client:
        return client.get("/health")


def _answers(instance: Instance) -> bool:
    """The runtime answers its health check. Where nothing listens any more, a unix socket or
    TCP port refuses; a vendor's URL in front of a stopped runtime answers with an error."""
    try:
        with _client(instance, timeout_s=1.0) as client:
            return client.get("/health").status_code == 200
    except httpx.TransportError:
        return False


def test_create_returns_a_runtime_that_answers(provider: Provider, make_spec: SpecFactory) -> None:
    instance = provider.create(make_spec())

    assert instance.state is InstanceState.RUNNING
    assert instance.provider == provider.name
    response = _health(instance)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_create_twice_with_one_key_gives_one_instance_and_one_tree(
    provider: Provider, harness: ProviderHarness, make_spec: SpecFactory
) -> None:
    spec = make_spec()
    first = provider.create(spec)
    pid_before = _health(first).json()["pid"]
    tree_before = harness.processes(provider, first.instance_id)

    second = provider.create(spec)

    assert second.instance_id == first.instance_id
    assert _health(second).json()["pid"] == pid_before
    assert tree_before, "positive control: the tree has processes"
    assert harness.processes(provider, second.instance_id) == tree_before
    mine = [i for i in provider.list() if i.labels.session_id == spec.labels.session_id]
    assert [i.instance_id for i in mine] == [first.instance_id]


def test_suspend_freezes_the_tree_and_resume_brings_it_back(
    provider: Provider, harness: ProviderHarness, make_spec: SpecFactory
) -> None:
    instance = provider.create(make_spec())
    iid = instance.instance_id
    if not harness.suspend_freezes:
        _suspend_stops_the_runtime_and_resume_starts_it(provider, instance)
        return
    if provider.capabilities.exec:
        # Something that burns CPU, so "no CPU while frozen" is not true of an idle tree anyway.
        burn = "(while :; do :; done) >/dev/null 2>&1 & echo ok"
        started = provider.exec(iid, ["sh", "-c", burn])
        assert started.exit_code == 0, started.stderr
        before = provider.usage(iid).cpu_seconds
        deadline = time.monotonic() + 5
        while provider.usage(iid).cpu_seconds - before < 0.1:
            assert time.monotonic() < deadline, "positive control: the burner uses CPU"
            time.sleep(0.05)

    suspended = provider.suspend(iid)

    assert suspended.state is InstanceState.SUSPENDED
    assert harness.frozen(provider, iid)
    frozen_at = provider.usage(iid).cpu_seconds
    time.sleep(0.5)
    assert provider.usage(iid).cpu_seconds - frozen_at < 0.01
    with _client(instance, timeout_s=0.2) as client, pytest.raises(httpx.TimeoutException):
        client.get("/health")  # held by the frozen tree, not refused

    resumed = provider.resume(iid)
    response = _health(resumed)

    assert resumed.state is InstanceState.RUNNING
    assert response.status_code == 200
    assert not harness.frozen(provider, iid)
    # How fast resume is belongs to bench/lifecycle.py, measured side by side, not here.


def _suspend_stops_the_runtime_and_resume_starts_it(provider: Provider, instance: Instance) -> None:
    """A vendor without a freeze (its sandboxes hibernate by themselves when idle): suspend
    stops the runtime, which no longer answers; the workspace stays; resume starts it again."""
    iid = instance.instance_id
    with _client(instance) as client:
        assert client.put("/v1/workspace/notes.txt", content=b"kept").status_code == 200

    suspended = provider.suspend(iid)

    assert suspended.state is InstanceState.SUSPENDED
    assert not _answers(instance)
    resumed = provider.resume(iid)
    assert resumed.state is InstanceState.RUNNING
    with _client(resumed) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/v1/workspace/notes.txt").content == b"kept"


def test_workspace_survives_archive_and_restore(provider: Provider, make_spec: SpecFactory) -> None:
    spec = make_spec()
    instance = provider.create(spec)
    with _client(instance) as client:
        written = client.put("/v1/workspace/notes.txt", content=b"kept across archive")
        assert written.status_code == 200
        assert client.get("/v1/workspace/notes.txt").content == b"kept across archive"

    archived = provider.archive(instance.instance_id)

    assert archived.state is InstanceState.ARCHIVED
    assert not _answers(instance)

    restored = provider.restore(instance.instance_id, spec)

    assert restored.state is InstanceState.RUNNING
    with _client(restored) as client:
        assert client.get("/v1/workspace/notes.txt").content == b"kept across archive"
        assert client.get("/v1/workspace/missing.txt").status_code == 404


def test_archive_and_restore_are_safe_to_repeat_and_the_archive_waits_for_release(
    provider: Provider, make_spec: SpecFactory
) -> None:
    """Write-ahead: a repeated archive (a crash retried) keeps the data; restore keeps the
    archive it came from until the caller releases it; a repeated restore is harmless."""
    spec = make_spec()
    instance = provider.create(spec)
    iid = instance.instance_id
    with _client(instance) as client:
        assert client.put("/v1/workspace/notes.txt", content=b"v1").status_code == 200
    provider.archive(iid)
    again = provider.archive(iid)
    assert again.state is InstanceState.ARCHIVED

    restored = provider.restore(iid, spec)
    assert restored.state is InstanceState.RUNNING
    retried = provider.restore(iid, spec)
    assert retried.state is InstanceState.RUNNING
    provider.release_archive(iid)
    observed = provider.get(iid)
    assert observed is not None
    assert observed.state is InstanceState.RUNNING
    assert not observed.archive_retained
    with _client(restored) as client:
        assert client.get("/v1/workspace/notes.txt").content == b"v1"
        assert client.put("/v1/workspace/notes.txt", content=b"v2").status_code == 200

    # The workspace is authoritative again: the next archive holds what was written since.
    provider.archive(iid)
    provider.release_archive(iid)  # never the only copy: a no-op on an archived instance
    restored = provider.restore(iid, spec)
    with _client(restored) as client:
        assert client.get("/v1/workspace/notes.txt").content == b"v2"


def test_destroy_leaves_nothing_behind(
    provider: Provider, harness: ProviderHarness, make_spec: SpecFactory
) -> None:
    instance = provider.create(make_spec())
    held = harness.holdings(provider, instance.instance_id)
    assert all(count > 0 for count in held.values()), f"positive control: {held}"

    provider.destroy(instance.instance_id)

    assert harness.leftovers(provider, instance.instance_id) == []
    assert provider.get(instance.instance_id) is None
    assert instance.instance_id not in [i.instance_id for i in provider.list()]


def test_destroy_of_an_archived_instance_removes_the_archive(
    provider: Provider, harness: ProviderHarness, make_spec: SpecFactory
) -> None:
    instance = provider.create(make_spec())
    provider.archive(instance.instance_id)
    assert harness.leftovers(provider, instance.instance_id), "positive control: archive kept"

    provider.destroy(instance.instance_id)

    assert harness.leftovers(provider, instance.instance_id) == []


def test_destroy_twice_and_destroy_unknown_are_fine(
    provider: Provider, harness: ProviderHarness, make_spec: SpecFactory
) -> None:
    instance = provider.create(make_spec())

    provider.destroy(instance.instance_id)
    provider.destroy(instance.instance_id)
    provider.destroy(harness.unknown_id)

    assert provider.get(instance.instance_id) is None


def test_list_reports_labels(provider: Provider, make_spec: SpecFactory) -> None:
    spec = make_spec(user_id="alice", sandbox_id="box-7", agent_id="agent-3", run_id="run-9")
    other = make_spec(user_id="bob")
    provider.create(spec)
    provider.create(other)

    listed = {i.labels.session_id: i for i in provider.list()}

    assert listed[spec.labels.session_id].labels == spec.labels
    assert listed[other.labels.session_id].labels == other.labels
    assert listed[spec.labels.session_id].state is InstanceState.RUNNING


def test_a_destroyed_key_can_be_created_again(provider: Provider, make_spec: SpecFactory) -> None:
    spec = make_spec()
    provider.destroy(provider.create(spec).instance_id)

    again = provider.create(spec)

    assert again.state is InstanceState.RUNNING
    assert _health(again).status_code == 200


def test_unknown_instances(provider: Provider, harness: ProviderHarness) -> None:
    unknown = harness.unknown_id
    assert provider.get(unknown) is None
    assert provider.get("no-such-instance") is None
    for operation in (provider.suspend, provider.resume, provider.archive, provider.usage):
        with pytest.raises(InstanceNotFound):
            operation(unknown)
    with pytest.raises(InstanceNotFound):
        provider.exec(unknown, ["true"])


def test_logs_show_what_the_runtime_wrote_and_an_archive_says_where_they_went(
    provider: Provider, make_spec: SpecFactory
) -> None:
    instance = provider.create(make_spec())

    lines = list(provider.logs(instance.instance_id, lines=50))

    assert any("echo runtime listening" in line.text for line in lines), lines
    assert lines[0].source == "session"
    assert list(provider.logs(instance.instance_id, lines=0)) == []
    if provider.capabilities.archive:
        provider.archive(instance.instance_id)
        with pytest.raises(LogsArchived) as archived:
            provider.logs(instance.instance_id)
        assert archived.value.instance_id == instance.instance_id
        assert archived.value.location


def test_a_workspace_starts_a_new_instance_from_its_portable_copy(
    provider: Provider, make_spec: SpecFactory, tmp_path: Path
) -> None:
    if not isinstance(provider, WorkspaceTransfer):
        pytest.skip(f"{provider.name} does not hand workspaces over")
    instance = provider.create(make_spec())
    iid = instance.instance_id
    with _client(instance) as client:
        assert client.put("/v1/workspace/notes.txt", content=b"moves along").status_code == 200
        assert client.put("/v1/workspace/more.txt", content=b"nested").status_code == 200

    running = tmp_path / "running.tar.gz"
    provider.export_workspace(iid, running)

    assert _answers(instance), "an export leaves a running instance running"
    with tarfile.open(running) as copy:
        names = copy.getnames()
    assert {"./notes.txt", "./more.txt"} <= set(names), names
    assert not [n for n in names if ".computerouter" in n], "the provider's own files stay"

    provider.archive(iid)
    archived = tmp_path / "archived.tar.gz"
    provider.export_workspace(iid, archived)
    after = provider.get(iid)
    assert after is not None
    assert after.state is InstanceState.ARCHIVED, "an export leaves an archive archived"
    assert not list(tmp_path.glob("*.part"))

    moved = provider.create_from_workspace(make_spec(), archived)

    assert moved.instance_id != iid
    assert moved.state is InstanceState.RUNNING
    with _client(moved) as client:
        assert client.get("/v1/workspace/notes.txt").content == b"moves along"
        assert client.get("/v1/workspace/more.txt").content == b"nested"
