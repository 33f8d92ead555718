"""Where a local instance lives on disk, and the record that describes it.

Layout under the provider root (``Settings.home / "local"``)::

    instances/<instance_id>/instance.json   the record (written first, replaced atomically)
    instances/<instance_id>/workspace/      the session's /workspace, owned by its uid, 0700
    instances/<instance_id>/runtime/        LaunchSpec.files, read-only inside the session
    instances/<instance_id>/session.log     stdout and stderr of the whole tree
    archives/<instance_id>.tar.zst          the workspace of an archived instance (.tar.gz
                                            where zstd is missing)
    locks/<instance_id>.lock                serialises operations on one instance
    s/<digest>/runtime.sock                 the runtime's socket (see ``socket_base``)

The record is the provider's only memory: ``list()`` after a control-plane crash reads these
files (and the cgroups) and nothing else.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from computerouter.domain.values import Labels, Resources
from computerouter.errors import InputError

__all__ = [
    "INSTANCE_PREFIX",
    "InstancePaths",
    "InstanceRecord",
    "RecordedState",
    "check_instance_id",
    "instance_id_for",
    "is_instance_id",
    "read_record",
    "scope_of",
    "socket_base",
    "write_record",
]

INSTANCE_PREFIX = "lc-"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ANY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$")
# A unix socket path must fit sun_path (108 bytes with its NUL).
_SUN_PATH_MAX = 107


def instance_id_for(idempotency_key: str) -> str:
    """The one instance id a key maps to, so a retried create finds what it made before."""
    if not _SAFE.match(idempotency_key):
        raise InputError(
            f"idempotency key {idempotency_key!r} is not usable by the local provider: "
            "use 1-64 of letters, digits, '.', '_', '-', starting with a letter or digit"
        )
    return INSTANCE_PREFIX + idempotency_key


def is_instance_id(name: str) -> bool:
    """True if ``name`` (a directory or cgroup found on the machine) is one of our ids."""
    return name.startswith(INSTANCE_PREFIX) and bool(_SAFE.match(name[len(INSTANCE_PREFIX) :]))


def check_instance_id(instance_id: str) -> bool:
    """True if ``instance_id`` could be ours; raise InputError if it is unsafe in a path.

    Ids of other shapes (another provider's, a typo) are simply not ours: callers answer
    "not found". Ids that could walk the filesystem are refused outright.
    """
    if not isinstance(instance_id, str) or not _ANY_ID.match(instance_id):
        raise InputError(f"instance id {instance_id!r} is not valid")
    return is_instance_id(instance_id)


def scope_of(root: Path) -> str:
    """A short name for this provider root, used to keep cgroups and sockets of different
    roots (a test's temporary root, another user's home) apart on one machine."""
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:10]
    return f"local-{digest}"


def socket_base(root: Path) -> Path:
    """Directory holding per-instance socket directories.

    Under the root when that keeps the socket path within ``sun_path``; otherwise (deep roots,
    such as test temporaries) under ``/run/computerouter`` (root) or ``/tmp`` (others), named
    by the root's scope so every process using the same root finds the same place.
    """
    inside = root / "s"
    if len(str(inside)) + 1 + 16 + len("/runtime.sock") <= _SUN_PATH_MAX:
        return inside
    if os.geteuid() == 0:
        return Path("/run/computerouter") / scope_of(root)
    return Path(tempfile.gettempdir()) / f"computerouter-{os.geteuid()}" / scope_of(root)


@dataclass(frozen=True, kw_only=True, slots=True)
class InstancePaths:
    root: Path
    instance_id: str
    sockets: Path

    @classmethod
    def of(cls, root: Path, instance_id: str) -> InstancePaths:
        return cls(root=root, instance_id=instance_id, sockets=socket_base(root))

    @property
    def dir(self) -> Path:
        return self.root / "instances" / self.instance_id

    @property
    def record(self) -> Path:
        return self.dir / "instance.json"

    @property
    def workspace(self) -> Path:
        return self.dir / "workspace"

    @property
    def runtime_dir(self) -> Path:
        return self.dir / "runtime"

    @property
    def rootfs(self) -> Path:
        """Mount point of the session's root in the ``unshare`` sandbox (empty on the host)."""
        return self.dir / "rootfs"

    @property
    def log(self) -> Path:
        return self.dir / "session.log"

    @property
    def gateway_log(self) -> Path:
        """The egress gateway's refusals, one JSON line each (outside the session's view)."""
        return self.dir / "gateway.log"

    @property
    def pidfile(self) -> Path:
        """Pid of the session leader, written by the launcher once it has joined the cgroups."""
        return self.dir / "leader.pid"

    @property
    def sock_dir(self) -> Path:
        digest = hashlib.sha256(self.instance_id.encode()).hexdigest()[:16]
        return self.sockets / digest

    @property
    def socket(self) -> Path:
        return self.sock_dir / "runtime.sock"

    @property
    def archive_stem(self) -> Path:
        """``archives/<id>``; the archive adds ``.tar.zst`` (or ``.tar.gz`` without zstd)."""
        return self.root / "archives" / self.instance_id

    @property
    def lock(self) -> Path:
        return self.root / "locks" / f"{self.instance_id}.lock"


class RecordedState(enum.StrEnum):
    """What the provider last did to an instance (the facts on the machine may differ).

    Only what the machine cannot tell is recorded: a live tree could be half made (creating,
    restoring) or half packed (archiving). Frozen or thawed is not: the freezer says it, and
    resume stays off the disk.
    """

    CREATING = "creating"
    RUNNING = "running"
    ARCHIVING = "archiving"
    ARCHIVED = "archived"
    RESTORING = "restoring"
    DESTROYING = "destroying"


@dataclass(frozen=True, kw_only=True, slots=True)
class InstanceRecord:
    instance_id: str
    idempotency_key: str
    labels: Labels
    uid: int
    resources: Resources
    state: RecordedState
    sandbox: str
    """``bwrap``, ``unshare`` or ``none``: how the processes were isolated."""
    runtime: str = ""
    health_path: str = "/health"
    """Where resume asks whether the runtime answers again."""
    created_at: float = field(default_factory=time.time)
    cpu_seconds_before: float = 0.0
    """CPU used by earlier incarnations (before an archive), so usage stays cumulative."""
    log_files: tuple[str, ...] = ()
    """The runtime's log files, relative to the workspace (``LaunchSpec.log_files``)."""
    pooled: bool = False
    """In the warm pool: booted for a session that does not exist yet, claimed by no one."""
    parked: bool = False
    """Pooled, warmed and frozen: claimable."""
    fingerprint: str = ""
    """The launch it was booted with (``launch_fingerprint``): a claim must match it."""

    def with_state(self, state: RecordedState) -> InstanceRecord:
        return replace(self, state=state)

    def to_json(self) -> str:
        return json.dumps(
            {
                "instance_id": self.instance_id,
                "idempotency_key": self.idempotency_key,
                "labels": self.labels.as_dict(),
                "uid": self.uid,
                "resources": {
                    "cpus": self.resources.cpus,
                    "memory_mb": self.resources.memory_mb,
                    "pids": self.resources.pids,
                },
                "state": self.state.value,
                "sandbox": self.sandbox,
                "runtime": self.runtime,
                "health_path": self.health_path,
                "created_at": self.created_at,
                "cpu_seconds_before": self.cpu_seconds_before,
                "log_files": list(self.log_files),
                "pooled": self.pooled,
                "parked": self.parked,
                "fingerprint": self.fingerprint,
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> InstanceRecord:
        raw = json.loads(text)
        res = raw["resources"]
        return cls(
            instance_id=str(raw["instance_id"]),
            idempotency_key=str(raw["idempotency_key"]),
            labels=Labels.from_dict(raw["labels"]),
            uid=int(raw["uid"]),
            resources=Resources(
                cpus=float(res["cpus"]), memory_mb=int(res["memory_mb"]), pids=int(res["pids"])
            ),
            state=RecordedState(raw["state"]),
            sandbox=str(raw["sandbox"]),
            runtime=str(raw.get("runtime", "")),
            health_path=str(raw.get("health_path", "/health")),
            created_at=float(raw["created_at"]),
            cpu_seconds_before=float(raw.get("cpu_seconds_before", 0.0)),
            log_files=tuple(str(f) for f in raw.get("log_files", ())),
            pooled=bool(raw.get("pooled", False)),
            parked=bool(raw.get("parked", False)),
            fingerprint=str(raw.get("fingerprint", "")),
        )


def write_record(paths: InstancePaths, record: InstanceRecord) -> None:
    """Replace the record atomically and durably: a reader sees the old or the new one, never a
    torn file, and a record that names the archive as the authoritative copy is on disk before
    the workspace is removed on its word."""
    paths.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = paths.record.with_name(f".instance.json.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(record.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, paths.record)
    # The rename itself must survive a power loss before data is removed on its word.
    dir_fd = os.open(paths.dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_record(paths: InstancePaths) -> InstanceRecord | None:
    """The record, or None when there is none (or it is unreadable: a partly made instance)."""
    try:
        return InstanceRecord.from_json(paths.record.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, InputError):
        return None
