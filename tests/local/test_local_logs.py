"""LocalProvider.logs: the tree's output and the runtime's log files, tailed and followed,
never a host file behind a tenant's symlink, never raw control characters."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from computerouter.domain.logs import LogLine
from computerouter.domain.values import Labels, Resources
from computerouter.errors import InputError, InstanceNotFound, LogsArchived
from computerouter.providers.base import InstanceSpec
from computerouter.providers.local import LocalProvider, probe
from computerouter.providers.local.metadata import InstancePaths
from computerouter.runtimes.echo import EchoRuntime

pytestmark = pytest.mark.isolation

LOG_FILES = ("logs/app.log", "sneaky.log", "../outside.log", "/etc/passwd")


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


def create(local: LocalProvider) -> tuple[str, Path]:
    key = f"ses_{uuid.uuid4().hex[:16]}"
    launch = dataclasses.replace(EchoRuntime().launch_spec(session_id=key), log_files=LOG_FILES)
    instance = local.create(
        InstanceSpec(
            idempotency_key=key,
            labels=Labels(session_id=key, user_id="u", sandbox_id="s"),
            resources=Resources(cpus=1.0, memory_mb=256, pids=64),
            launch=launch,
        )
    )
    return instance.instance_id, InstancePaths.of(local.root, instance.instance_id).workspace


def test_logs_tail_the_session_output_and_the_runtime_files(
    local: LocalProvider, tmp_path: Path
) -> None:
    instance_id, workspace = create(local)
    (workspace / "logs").mkdir()
    (workspace / "logs" / "app.log").write_text(
        "".join(f"line {i}\n" for i in range(1, 11)) + "colour \x1b[31mred\x1b[0m\n"
    )
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host secret, not for tenants\n")
    os.symlink(secret, workspace / "sneaky.log")

    got = list(local.logs(instance_id, lines=3))

    assert got[0].source == "session"
    assert "echo runtime listening" in got[0].text
    app = [line.text for line in got if line.source == "logs/app.log"]
    assert app == ["line 9", "line 10", "colour \\x1b[31mred\\x1b[0m"]
    assert {line.source for line in got} == {"session", "logs/app.log"}
    assert not any("host secret" in line.text for line in got)
    assert list(local.logs(instance_id, lines=0)) == []


def test_follow_streams_new_lines_until_the_instance_is_destroyed(local: LocalProvider) -> None:
    instance_id, workspace = create(local)
    (workspace / "logs").mkdir()
    log = workspace / "logs" / "app.log"
    log.write_text("before\n")
    seen: list[LogLine] = []
    streaming = threading.Thread(
        target=lambda: seen.extend(local.logs(instance_id, lines=5, follow=True)), daemon=True
    )
    streaming.start()
    deadline = time.monotonic() + 10
    while not any(line.text == "before" for line in seen) and time.monotonic() < deadline:
        time.sleep(0.02)
    with log.open("a") as fh:
        fh.write("after, part one")
        fh.flush()
        time.sleep(0.5)  # a half-written line waits for its end
        fh.write(" and two\n")
    while not any(line.text.startswith("after") for line in seen) and time.monotonic() < deadline:
        time.sleep(0.02)

    local.destroy(instance_id)
    streaming.join(timeout=10)

    assert not streaming.is_alive()
    app = [line.text for line in seen if line.source == "logs/app.log"]
    assert app == ["before", "after, part one and two"]


def test_an_archived_instance_says_where_its_logs_are(local: LocalProvider) -> None:
    instance_id, _ = create(local)
    local.archive(instance_id)
    with pytest.raises(LogsArchived) as archived:
        local.logs(instance_id)
    assert archived.value.location.startswith(str(local.root / "archives" / instance_id))
    assert str(archived.value).count("\n") == 0


def test_unknown_instances_and_bad_counts_are_refused(local: LocalProvider) -> None:
    with pytest.raises(InstanceNotFound):
        local.logs("lc-ses_nosuchinstance")
    instance_id, _ = create(local)
    with pytest.raises(InputError):
        local.logs(instance_id, lines=-1)
