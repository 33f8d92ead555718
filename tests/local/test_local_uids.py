"""Session uids: lowest free in the range, one per live instance on the whole machine (every
home shares one registry), safe across processes, freed by deleting the record."""

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
from computerouter.providers.local.uids import (
    UidRange,
    allocate_uid,
    live_claims,
    pick_uid,
    uids_in_use,
)


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


def _allocate(root: str, instance_id: str, registry: Path) -> int:
    paths = InstancePaths.of(Path(root), instance_id)
    return allocate_uid(
        Path(root),
        instance_id,
        uids=UidRange(base=5000, count=50, registry=registry),
        commit=lambda uid: write_record(paths, record(instance_id, uid)),
    )


def test_records_are_the_ledger(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    assert _allocate(str(tmp_path), "lc-a", registry) == 5000
    assert _allocate(str(tmp_path), "lc-b", registry) == 5001
    assert uids_in_use(tmp_path) == {"lc-a": 5000, "lc-b": 5001}
    # Destroying an instance deletes its record, which frees its uid for the next one.
    InstancePaths.of(tmp_path, "lc-a").record.unlink()
    assert _allocate(str(tmp_path), "lc-c", registry) == 5000


def test_two_homes_on_one_machine_never_share_a_uid(tmp_path: Path) -> None:
    registry = tmp_path / "machine"
    home_a, home_b = tmp_path / "a" / "local", tmp_path / "b" / "local"
    first = _allocate(str(home_a), "lc-a1", registry)
    second = _allocate(str(home_b), "lc-b1", registry)
    third = _allocate(str(home_a), "lc-a2", registry)
    assert len({first, second, third}) == 3
    assert live_claims(registry) == {
        first: (str(home_a), "lc-a1"),
        second: (str(home_b), "lc-b1"),
        third: (str(home_a), "lc-a2"),
    }
    # A home deleted without destroying its sessions (or a crash) leaves stale claims: taken
    # over, since no record holds them any more.
    InstancePaths.of(home_b, "lc-b1").record.unlink()
    assert _allocate(str(tmp_path / "c" / "local"), "lc-c1", registry) == second


def test_a_broken_claim_does_not_block_its_uid_forever(tmp_path: Path) -> None:
    registry = tmp_path / "machine"
    registry.mkdir()
    (registry / "5000").write_text("{not json")
    assert _allocate(str(tmp_path / "home"), "lc-x", registry) == 5000


_ALLOCATE_IN_A_PROCESS = """
import sys
from pathlib import Path
from computerouter.domain.values import Labels, Resources
from computerouter.providers.local.metadata import InstancePaths, InstanceRecord, RecordedState
from computerouter.providers.local.metadata import write_record
from computerouter.providers.local.uids import UidRange, allocate_uid

root, instance_id, registry = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
paths = InstancePaths.of(root, instance_id)
labels = Labels(session_id=instance_id, user_id="u", sandbox_id="s")
def commit(uid):
    write_record(paths, InstanceRecord(
        instance_id=instance_id, idempotency_key=instance_id[3:], labels=labels, uid=uid,
        resources=Resources(), state=RecordedState.CREATING, sandbox="bwrap"))
print(allocate_uid(root, instance_id, uids=UidRange(base=5000, count=50, registry=registry),
                   commit=commit))
"""


def test_concurrent_processes_of_two_homes_never_share_a_uid(tmp_path: Path) -> None:
    # Fresh interpreters, not forks: forking a test process that has threads can deadlock the
    # children on a lock held at fork time, and a stuck child would outlive the suite.
    ids = [f"lc-p{i}" for i in range(12)]
    homes = {i: tmp_path / ("a" if n % 2 else "b") for n, i in enumerate(ids)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ALLOCATE_IN_A_PROCESS, str(homes[i]), i, str(tmp_path / "m")],
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
    both = {**uids_in_use(tmp_path / "a"), **uids_in_use(tmp_path / "b")}
    assert both == dict(zip(ids, uids, strict=True))
