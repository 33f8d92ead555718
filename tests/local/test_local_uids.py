"""Session uids: lowest free in the range, one per live instance, safe across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from computerouter.domain.values import Labels, Resources
from computerouter.errors import ProviderUnavailable
from computerouter.providers.local.metadata import (
    InstancePaths,
    InstanceRecord,
    RecordedState,
    write_record,
)
from computerouter.providers.local.uids import allocate_uid, pick_uid, uids_in_use


def record(instance_id: str, uid: int) -> InstanceRecord:
    return InstanceRecord(
        instance_id=instance_id,
        idempotency_key=instance_id[3:],
        labels=Labels(session_id=instance_id, user_id="u", sandbox_id="s"),
        uid=uid,
        resources=Resources(),
        state=RecordedState.CREATING,
        sandbox="bwrap",
    )


def test_pick_uid_takes_the_lowest_free() -> None:
    assert pick_uid([], base=100, count=3) == 100
    assert pick_uid([100, 102], base=100, count=3) == 101
    assert pick_uid([5, 100, 101], base=100, count=3) == 102


def test_pick_uid_refuses_when_the_range_is_full() -> None:
    with pytest.raises(ProviderUnavailable, match="in use"):
        pick_uid([100, 101], base=100, count=2)


def _allocate(root: str, instance_id: str) -> int:
    paths = InstancePaths.of(Path(root), instance_id)
    return allocate_uid(
        Path(root),
        base=5000,
        count=50,
        commit=lambda uid: write_record(paths, record(instance_id, uid)),
    )


def test_records_are_the_ledger(tmp_path: Path) -> None:
    assert _allocate(str(tmp_path), "lc-a") == 5000
    assert _allocate(str(tmp_path), "lc-b") == 5001
    assert uids_in_use(tmp_path) == {"lc-a": 5000, "lc-b": 5001}
    # Destroying an instance deletes its record, which frees its uid for the next one.
    InstancePaths.of(tmp_path, "lc-a").record.unlink()
    assert _allocate(str(tmp_path), "lc-c") == 5000


_ALLOCATE_IN_A_PROCESS = """
import sys
from pathlib import Path
from computerouter.domain.values import Labels, Resources
from computerouter.providers.local.metadata import InstancePaths, InstanceRecord, RecordedState
from computerouter.providers.local.metadata import write_record
from computerouter.providers.local.uids import allocate_uid

root, instance_id = Path(sys.argv[1]), sys.argv[2]
paths = InstancePaths.of(root, instance_id)
labels = Labels(session_id=instance_id, user_id="u", sandbox_id="s")
def commit(uid):
    write_record(paths, InstanceRecord(
        instance_id=instance_id, idempotency_key=instance_id[3:], labels=labels, uid=uid,
        resources=Resources(), state=RecordedState.CREATING, sandbox="bwrap"))
print(allocate_uid(root, base=5000, count=50, commit=commit))
"""


def test_concurrent_processes_never_share_a_uid(tmp_path: Path) -> None:
    # Fresh interpreters, not forks: forking a test process that has threads can deadlock the
    # children on a lock held at fork time, and a stuck child would outlive the suite.
    ids = [f"lc-p{i}" for i in range(12)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ALLOCATE_IN_A_PROCESS, str(tmp_path), i],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in ids
    ]
    uids = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            uids.append(int(out))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert sorted(uids) == list(range(5000, 5012))
    assert uids_in_use(tmp_path) == dict(zip(ids, uids, strict=True))
