"""Host uids for sessions: each live instance runs as its own unprivileged uid.

The instance records are the ledger (a uid is taken while a record names it), so there is no
second file to drift out of step; allocation scans them under one lock and writes the new
record before releasing it. Destroying an instance deletes its record, which frees the uid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from computerouter.errors import ProviderUnavailable
from computerouter.providers.local.locks import file_lock
from computerouter.providers.local.metadata import InstancePaths, read_record

__all__ = ["allocate_uid", "pick_uid", "uids_in_use"]


def pick_uid(taken: Iterable[int], *, base: int, count: int) -> int:
    """The lowest uid in ``[base, base + count)`` not in ``taken``."""
    used = set(taken)
    for uid in range(base, base + count):
        if uid not in used:
            return uid
    raise ProviderUnavailable(
        f"all {count} session uids from {base} are in use; destroy sessions or widen the range",
        provider="local",
    )


def uids_in_use(root: Path) -> dict[str, int]:
    """instance id -> uid, for every instance with a readable record."""
    out: dict[str, int] = {}
    instances = root / "instances"
    if not instances.is_dir():
        return out
    for entry in instances.iterdir():
        record = read_record(InstancePaths.of(root, entry.name))
        if record is not None:
            out[record.instance_id] = record.uid
    return out


def allocate_uid(root: Path, *, base: int, count: int, commit: Callable[[int], None]) -> int:
    """Pick a free uid and call ``commit(uid)`` (which must write the record) under the lock."""
    with file_lock(root / "locks" / "uids.lock"):
        uid = pick_uid(uids_in_use(root).values(), base=base, count=count)
        commit(uid)
        return uid
