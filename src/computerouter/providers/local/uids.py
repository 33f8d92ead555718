"""Host uids for sessions: each live instance runs as its own unprivileged uid, and no two live
sessions anywhere on this machine share one, whichever home or control plane made them.

One registry per machine (:data:`MACHINE_REGISTRY`, root's, on disk so it survives restarts)
holds a claim file per uid naming the instance record that holds it (its provider root and
instance id). A claim is live while that record exists and names that uid, so there is nothing
to release and nothing to drift: destroying an instance deletes its record, which frees the
uid; a claim whose record is gone (its home deleted, a crash) is taken over. Allocation scans
the registry (and the root's own records, for sessions made before it) under one machine-wide
lock and writes the record and the claim before releasing it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from computerouter.errors import ProviderUnavailable
from computerouter.providers.local.locks import file_lock
from computerouter.providers.local.metadata import InstancePaths, read_record

__all__ = ["MACHINE_REGISTRY", "UidRange", "allocate_uid", "live_claims", "pick_uid", "uids_in_use"]

MACHINE_REGISTRY = Path("/var/lib/computerouter/session-uids")


@dataclass(frozen=True, kw_only=True, slots=True)
class UidRange:
    base: int
    count: int
    registry: Path = MACHINE_REGISTRY
    """The machine's claims; every home on the machine must name the same one."""


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
    """instance id -> uid, for every instance of ``root`` with a readable record."""
    out: dict[str, int] = {}
    instances = root / "instances"
    if not instances.is_dir():
        return out
    for entry in instances.iterdir():
        record = read_record(InstancePaths.of(root, entry.name))
        if record is not None:
            out[record.instance_id] = record.uid
    return out


def live_claims(registry: Path) -> dict[int, tuple[str, str]]:
    """uid -> (provider root, instance id) of every claim whose record still holds it."""
    out: dict[int, tuple[str, str]] = {}
    if not registry.is_dir():
        return out
    for entry in registry.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            claim = json.loads(entry.read_text())
            root, instance = str(claim["root"]), str(claim["instance"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # half-written by a crash: its record decides below, as for any other
        record = read_record(InstancePaths.of(Path(root), instance))
        if record is not None and record.uid == int(entry.name):
            out[int(entry.name)] = (root, instance)
    return out


def allocate_uid(
    root: Path, instance_id: str, *, uids: UidRange, commit: Callable[[int], None]
) -> int:
    """Pick a uid no live session on this machine holds, call ``commit(uid)`` (which must
    write the instance's record) and claim it, all under the machine-wide lock."""
    registry = uids.registry
    registry.mkdir(parents=True, exist_ok=True, mode=0o700)
    with file_lock(registry / ".lock"):
        taken = set(live_claims(registry)) | set(uids_in_use(root).values())
        uid = pick_uid(taken, base=uids.base, count=uids.count)
        commit(uid)
        claim = registry / str(uid)
        staging = registry / f".{uid}.{os.getpid()}"
        staging.write_text(json.dumps({"root": str(root), "instance": instance_id}))
        os.replace(staging, claim)
        return uid
