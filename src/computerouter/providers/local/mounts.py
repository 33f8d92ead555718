"""The filesystem a session sees, planned once and rendered for bwrap or for a shell script.

The view is only what a session needs: the host's system directories (``/usr`` and the
``/bin``, ``/sbin``, ``/lib*`` beside it) read-only, a curated ``/etc`` (name resolution, the
dynamic linker's cache, time zone, CA certificates, alternatives: :data:`ETC_ENTRIES`), fresh
``/tmp``, ``/var/tmp``, ``/run``, ``/proc`` and ``/dev``, and the session's own workspace,
socket directory, runtime files and extra read-only mounts (a runtime image) bound in. Nothing
else of the host exists in it: not ``/home``, ``/root``, ``/srv``, ``/opt``, ``/var/lib``,
the control plane's home or any other home. Should the provider root lie inside a directory
that is shown, it is hidden under an empty tmpfs (a session cannot even list other sessions).

Why top-level directories one by one onto an empty root instead of ``--ro-bind / /``: a mount
point can only be made inside a writable directory, and a read-only host root has none. For
the same reason, a target whose parent does not exist on the host (``/opt/computerouter``)
"splays" its nearest existing ancestor: a tmpfs goes over it and its children are bound back
one by one, leaving room to create the missing directories.

Planning is pure: the host is read through :class:`HostFS`, which tests replace by a fake.
"""

from __future__ import annotations

import enum
import os
import posixpath
import shlex
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from computerouter.domain.values import MountSpec
from computerouter.errors import InputError

__all__ = [
    "ETC_ENTRIES",
    "HIDDEN_TOP_LEVEL",
    "SESSION_RUNTIME_DIR",
    "SESSION_SOCKET_DIR",
    "SESSION_WORKSPACE",
    "SYSTEM_TOP_LEVEL",
    "HostFS",
    "Mount",
    "MountOp",
    "RealHostFS",
    "plan_mounts",
    "render_bwrap",
    "render_shell",
]

SESSION_WORKSPACE = "/workspace"
SESSION_SOCKET_DIR = "/run/computerouter"
SESSION_RUNTIME_DIR = "/opt/computerouter/runtime"

HIDDEN_TOP_LEVEL = frozenset({"proc", "dev", "sys", "tmp", "run"})
"""Host top-level directories never shown: fresh ones (or none, for sys) replace them."""
SYSTEM_TOP_LEVEL = ("bin", "lib", "lib32", "lib64", "libx32", "sbin", "usr")
"""Host top-level entries shown read-only (where they exist; symlinks kept as symlinks)."""
ETC_ENTRIES = (
    "alternatives", "ca-certificates", "ca-certificates.conf", "debian_version", "gai.conf",
    "group", "host.conf", "hosts", "inputrc", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
    "localtime", "mime.types", "nsswitch.conf", "os-release", "passwd", "profile", "protocols",
    "resolv.conf", "services", "shells", "ssl", "terminfo", "timezone",
)  # fmt: skip
"""What of the host's ``/etc`` a session sees: what the C library, the interpreter and common
tools read; no credentials, keys or host configuration beyond these."""

_RESERVED = ("/proc", "/dev", "/sys", SESSION_WORKSPACE, SESSION_SOCKET_DIR, SESSION_RUNTIME_DIR)


class HostFS(Protocol):
    def listdir(self, path: str) -> list[str]: ...

    def kind(self, path: str) -> str | None:
        """``dir``, ``symlink``, ``file`` (anything else) or None when missing."""
        ...

    def readlink(self, path: str) -> str: ...


class RealHostFS:
    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def kind(self, path: str) -> str | None:
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(mode):
            return "symlink"
        return "dir" if stat.S_ISDIR(mode) else "file"

    def readlink(self, path: str) -> str:
        return os.readlink(path)


class MountOp(enum.StrEnum):
    RO_BIND = "ro-bind"
    BIND = "bind"
    TMPFS = "tmpfs"
    SYMLINK = "symlink"
    DIR = "dir"
    PROC = "proc"
    DEV = "dev"


@dataclass(frozen=True, kw_only=True, slots=True)
class Mount:
    op: MountOp
    dest: str
    source: str = ""
    """Host path for binds; link target for symlinks."""
    mode: int = 0o755
    """Permissions of a tmpfs or a created directory."""
    file: bool = False
    """A bind of a single file rather than a directory."""


def _check_target(target: str) -> None:
    if not target.startswith("/") or posixpath.normpath(target) != target or target == "/":
        raise InputError(f"mount target {target!r} must be an absolute, normalised path below /")
    for reserved in _RESERVED:
        if target == reserved or target.startswith(reserved + "/"):
            raise InputError(f"mount target {target!r} is reserved for the session itself")


def _ancestors(path: str) -> list[str]:
    """``/a/b/c`` -> ``["/a", "/a/b", "/a/b/c"]``."""
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


class _Planner:
    def __init__(self, fs: HostFS) -> None:
        self.fs = fs
        self.mounts: list[Mount] = []
        # path -> True when it lies on something we made (tmpfs, created dir), False when it
        # is a bind of the host (read-only: nothing can be created under it).
        self.regions: dict[str, bool] = {"/": True}
        self.symlinks: set[str] = set()

    def region(self, path: str) -> tuple[str, bool]:
        probe = path
        while probe not in self.regions:
            probe = posixpath.dirname(probe)
        return probe, self.regions[probe]

    def add(self, mount: Mount, *, synthetic: bool | None) -> None:
        self.mounts.append(mount)
        if synthetic is not None:
            self.regions[mount.dest] = synthetic

    def bind_host_entry(self, path: str, *, files: bool = True) -> None:
        kind = self.fs.kind(path)
        if kind == "file" and not files:
            return
        if kind == "symlink":
            self.add(
                Mount(op=MountOp.SYMLINK, dest=path, source=self.fs.readlink(path)), synthetic=None
            )
            self.symlinks.add(path)
        elif kind in ("dir", "file"):
            self.add(
                Mount(op=MountOp.RO_BIND, dest=path, source=path, file=kind == "file"),
                synthetic=False,
            )

    def splay(self, directory: str, *, keep_out: str) -> None:
        """Cover a host directory with a tmpfs and bind its children back (but ``keep_out``)."""
        self.add(Mount(op=MountOp.TMPFS, dest=directory), synthetic=True)
        for name in self.fs.listdir(directory):
            child = posixpath.join(directory, name)
            if child != keep_out:
                self.bind_host_entry(child)

    def make_room(self, dest: str) -> None:
        """Ensure every ancestor of ``dest`` exists and ``dest`` can be mounted on."""
        for path in _ancestors(dest):
            if path in self.symlinks:
                raise InputError(f"cannot mount at {dest!r}: {path!r} is a symlink")
            anchor, synthetic = self.region(path)
            if anchor == path:
                continue
            if synthetic:
                if path != dest:
                    self.add(Mount(op=MountOp.DIR, dest=path), synthetic=True)
                continue
            kind = self.fs.kind(path)
            if kind == "dir":
                continue
            if kind is not None:
                raise InputError(f"cannot mount at {dest!r}: {path!r} on the host is a {kind}")
            self.splay(posixpath.dirname(path), keep_out=path)
            if path != dest:
                self.add(Mount(op=MountOp.DIR, dest=path), synthetic=True)


def plan_mounts(
    *,
    workspace: str,
    sock_dir: str,
    runtime_dir: str,
    provider_root: str,
    extra: Sequence[MountSpec] = (),
    fs: HostFS,
) -> list[Mount]:
    """Every mount of a session's filesystem, in the order they must be made."""
    for spec in extra:
        _check_target(spec.target)
    targets: list[Mount] = [
        Mount(op=MountOp.BIND, dest=SESSION_WORKSPACE, source=workspace),
        Mount(op=MountOp.BIND, dest=SESSION_SOCKET_DIR, source=sock_dir),
        Mount(op=MountOp.RO_BIND, dest=SESSION_RUNTIME_DIR, source=runtime_dir),
        *(Mount(op=MountOp.RO_BIND, dest=s.target, source=s.source) for s in extra),
    ]
    dests = [t.dest for t in targets]
    if len(set(dests)) != len(dests):
        raise InputError(f"two mounts share a target: {sorted(dests)}")

    plan = _Planner(fs)
    for name in SYSTEM_TOP_LEVEL:
        if "/" + name not in dests:
            plan.bind_host_entry("/" + name, files=False)
    plan.add(Mount(op=MountOp.TMPFS, dest="/etc"), synthetic=True)
    for name in ETC_ENTRIES:
        plan.bind_host_entry("/etc/" + name)
    plan.add(Mount(op=MountOp.DIR, dest="/var"), synthetic=True)
    plan.add(Mount(op=MountOp.TMPFS, dest="/var/tmp", mode=0o1777), synthetic=True)
    plan.add(Mount(op=MountOp.TMPFS, dest="/tmp", mode=0o1777), synthetic=True)
    plan.add(Mount(op=MountOp.TMPFS, dest="/run"), synthetic=True)
    plan.add(Mount(op=MountOp.PROC, dest="/proc"), synthetic=None)
    plan.add(Mount(op=MountOp.DEV, dest="/dev"), synthetic=None)
    # Parents first, so a nested extra mount lands inside its parent mount, not under it.
    for target in sorted(targets, key=lambda t: t.dest.count("/")):
        plan.make_room(target.dest)
        plan.add(target, synthetic=False)
    # Hidden last: a splay above may have bound the root's ancestors back in.
    anchor, synthetic = plan.region(provider_root)
    if not synthetic and anchor != provider_root and fs.kind(provider_root) == "dir":
        plan.add(Mount(op=MountOp.TMPFS, dest=provider_root, mode=0o700), synthetic=True)
    return plan.mounts


def render_bwrap(mounts: Sequence[Mount]) -> list[str]:
    args: list[str] = []
    for m in mounts:
        if m.op in (MountOp.RO_BIND, MountOp.BIND):
            args += [f"--{m.op.value}", m.source, m.dest]
        elif m.op is MountOp.TMPFS:
            args += ["--perms", f"{m.mode:04o}", "--tmpfs", m.dest]
        elif m.op is MountOp.DIR:
            args += ["--perms", f"{m.mode:04o}", "--dir", m.dest]
        elif m.op is MountOp.SYMLINK:
            args += ["--symlink", m.source, m.dest]
        elif m.op is MountOp.PROC:
            args += ["--proc", m.dest]
        else:
            args += ["--dev", m.dest]
    return args


_DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")


def render_shell(mounts: Sequence[Mount], *, new_root: str, mount_bin: str) -> list[str]:
    """Shell lines that build the same view under ``new_root`` inside a private mount namespace
    (the ``unshare`` fallback, which has no bwrap to do it)."""
    q = shlex.quote
    mnt = q(mount_bin)
    lines: list[str] = []

    def at(dest: str) -> str:
        return q(new_root.rstrip("/") + dest)

    lines.append(f"{mnt} -t tmpfs -o mode=0755,nosuid,nodev tmpfs {q(new_root)}")
    for m in mounts:
        dest = at(m.dest)
        if m.op in (MountOp.RO_BIND, MountOp.BIND):
            lines.append(f"touch {dest}" if m.file else f"mkdir -p {dest}")
            lines.append(f"{mnt} --bind {q(m.source)} {dest}")
            if m.op is MountOp.RO_BIND:
                lines.append(f"{mnt} -o remount,bind,ro,nosuid,nodev {dest}")
        elif m.op is MountOp.TMPFS:
            lines.append(f"mkdir -p {dest}")
            lines.append(f"{mnt} -t tmpfs -o mode={m.mode:04o},nosuid,nodev tmpfs {dest}")
        elif m.op is MountOp.DIR:
            lines.append(f"mkdir -p -m {m.mode:04o} {dest}")
        elif m.op is MountOp.SYMLINK:
            lines.append(f"ln -s {q(m.source)} {dest}")
        elif m.op is MountOp.PROC:
            lines.append(f"mkdir -p {dest}")
            lines.append(f"{mnt} -t proc -o nosuid,nodev,noexec proc {dest}")
        else:
            lines.append(f"mkdir -p {dest}")
            lines.append(f"{mnt} -t tmpfs -o mode=0755,nosuid tmpfs {dest}")
            for node in _DEV_NODES:
                lines.append(f"touch {dest}/{node}")
                lines.append(f"{mnt} --bind /dev/{node} {dest}/{node}")
            lines.append(f"mkdir -p {dest}/shm {dest}/pts")
            lines.append(f"{mnt} -t tmpfs -o mode=1777,nosuid,nodev tmpfs {dest}/shm")
            for i, name in enumerate(("stdin", "stdout", "stderr")):
                lines.append(f"ln -s /proc/self/fd/{i} {dest}/{name}")
            lines.append(f"ln -s /proc/self/fd {dest}/fd")
    lines.append(f"{mnt} -o remount,ro,nosuid,nodev {q(new_root)}")
    return lines
