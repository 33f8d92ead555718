"""Instance ids, records on disk and socket paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from computerouter.domain.values import Labels, Resources
from computerouter.errors import InputError
from computerouter.providers.local.metadata import (
    InstancePaths,
    InstanceRecord,
    RecordedState,
    check_instance_id,
    instance_id_for,
    read_record,
    scope_of,
    socket_base,
    write_record,
)


def test_instance_id_is_derived_from_the_key() -> None:
    assert instance_id_for("ses_01hx") == "lc-ses_01hx"
    assert instance_id_for("ses_01hx") == instance_id_for("ses_01hx")


@pytest.mark.parametrize("key", ["", "../x", "a/b", ".hidden", "x" * 65, "a b", "é"])
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(InputError, match="idempotency key"):
        instance_id_for(key)


def test_check_instance_id() -> None:
    assert check_instance_id("lc-ses_1") is True
    assert check_instance_id("sbx-other-provider") is False  # well formed, not ours
    for bad in ("", "../lc-x", "lc-x/../../etc", "/abs", "a\0b", "x" * 300):
        with pytest.raises(InputError):
            check_instance_id(bad)


def test_record_round_trips_and_replaces_atomically(tmp_path: Path) -> None:
    paths = InstancePaths.of(tmp_path, "lc-k")
    record = InstanceRecord(
        instance_id="lc-k",
        idempotency_key="k",
        labels=Labels(session_id="ses_k", user_id="u", sandbox_id="s", agent_id="a", run_id="r"),
        uid=2_000_003,
        resources=Resources(cpus=0.5, memory_mb=256, pids=64),
        state=RecordedState.CREATING,
        sandbox="bwrap",
        runtime="echo",
        health_path="/healthz",
    )
    write_record(paths, record)
    write_record(paths, record.with_state(RecordedState.RUNNING))

    assert read_record(paths) == record.with_state(RecordedState.RUNNING)
    assert sorted(os.listdir(paths.dir)) == ["instance.json"]  # no temp file left


def test_unreadable_records_read_as_missing(tmp_path: Path) -> None:
    paths = InstancePaths.of(tmp_path, "lc-k")
    assert read_record(paths) is None
    paths.dir.mkdir(parents=True)
    paths.record.write_text("{not json")
    assert read_record(paths) is None


def test_socket_paths_always_fit_sun_path(tmp_path: Path) -> None:
    short = Path("/tmp/cr")
    assert socket_base(short) == short / "s"
    deep = tmp_path / ("d" * 120) / "local"
    base = socket_base(deep)
    assert scope_of(deep) in str(base)
    socket = InstancePaths.of(deep, "lc-" + "k" * 64).socket
    assert len(str(socket)) <= 107
    assert socket_base(deep) == base  # every process finds the same place


def test_scopes_differ_per_root(tmp_path: Path) -> None:
    assert scope_of(tmp_path / "a") != scope_of(tmp_path / "b")
    assert scope_of(tmp_path / "a").startswith("local-")
