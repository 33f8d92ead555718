"""What this machine offers local sessions: sandbox tools, privileges, cgroups, archivers.

:func:`probe` looks (and, unless told not to, tries a sandbox once, a few milliseconds);
:class:`LocalHost` is the frozen answer, used by the provider to choose how to isolate and
by ``computerouter doctor`` to show the operator (:meth:`LocalHost.rows`).

Choice of sandbox, best first:

1. ``bwrap`` as root: every session is its own unprivileged host uid without capabilities.
2. ``bwrap`` unprivileged (``--unshare-user``): sessions run as the operator's uid, in their
   own namespaces; the operator's other files are protected only by the read-only view.
   No cgroups (unless delegated), so no limits; freezing falls back to SIGSTOP.
3. ``unshare`` as root (util-linux), with a shell-built read-only view and ``chroot``.
4. none: refused unless ``allow_unisolated`` (then sessions run plainly, loudly logged).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from computerouter.providers.local import seccomp
from computerouter.providers.local.cgroups import (
    CgroupBackend,
    CgroupMounts,
    detect_cgroups,
    kernel_version,
)
from computerouter.providers.local.sandbox import SandboxMode, Tools

__all__ = ["LocalHost", "Row", "probe"]

Row = tuple[str, str, str]
"""(check, status, detail); status is ``ok``, ``warn`` or ``missing``."""

# Interpreters any uid can run; a pyenv shim under root's home is neither fast nor reachable.
_SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")
_SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalHost:
    is_root: bool
    tools: Tools = field(default_factory=Tools)
    bwrap_version: str = ""
    bwrap_works: bool = False
    """A trial sandbox ran (as root without a user namespace, otherwise with one)."""
    unshare_works: bool = False
    cgroups: CgroupMounts = field(default_factory=CgroupMounts)
    cgroups_writable: bool = False
    cgroup2_controllers: tuple[str, ...] = ()
    cgroup2_freeze: bool = False
    cgroup2_kill: bool = False
    seccomp_gap: str = "not probed"
    """Why sessions run without the seccomp filter; empty when they run under it."""

    @property
    def sandbox(self) -> SandboxMode:
        t = self.tools
        if t.setsid is None:
            return SandboxMode.NONE
        if self.bwrap_works and t.bwrap and (t.setpriv or not self.is_root):
            return SandboxMode.BWRAP
        if (
            self.is_root
            and self.unshare_works
            and t.unshare
            and t.chroot
            and t.mount
            and (t.setpriv)
        ):
            return SandboxMode.UNSHARE
        return SandboxMode.NONE

    @property
    def isolated(self) -> bool:
        return self.sandbox is not SandboxMode.NONE

    @property
    def userns(self) -> bool:
        """Sessions live in a user namespace (bwrap without root)."""
        return self.sandbox is SandboxMode.BWRAP and not self.is_root

    def gaps(self) -> tuple[str, ...]:
        """What keeps this host from full isolation (empty: root, bwrap, cgroups, freezer)."""
        gaps = []
        if not self.is_root:
            gaps.append("not root")
        if self.sandbox is not SandboxMode.BWRAP:
            gaps.append("no working bubblewrap")
        if self.tools.nsenter is None:
            gaps.append("no nsenter")
        backend = self.cgroup_backend()
        if backend is None:
            gaps.append("no writable cgroups")
        elif not (self.cgroup2_freeze or any(c == "freezer" for c, _ in self.cgroups.v1)):
            gaps.append("no cgroup freezer")
        return tuple(gaps)

    def cgroup_backend(self) -> CgroupBackend | None:
        return detect_cgroups(self.cgroups, writable=self.cgroups_writable)

    def rows(self) -> list[Row]:
        t = self.tools
        rows: list[Row] = []
        rows.append(
            ("privileges", "ok", "root: each session runs as its own uid")
            if self.is_root
            else ("privileges", "warn", "not root: sessions run as your uid, without limits")
        )
        mode = self.sandbox
        # "missing" only where it stops sessions or a feature; a fallback in use is a "warn".
        if t.bwrap:
            detail = f"{t.bwrap} {self.bwrap_version}".strip()
            rows.append(
                ("bubblewrap", "ok", detail)
                if self.bwrap_works
                else (
                    "bubblewrap",
                    "warn" if mode is not SandboxMode.NONE else "missing",
                    f"{detail}: a trial sandbox failed",
                )
            )
        else:
            rows.append(
                (
                    "bubblewrap",
                    "warn" if mode is not SandboxMode.NONE else "missing",
                    "not installed (preferred sandbox)",
                )
            )
        needed = {
            "unshare": ("warn", "fallback sandbox when bubblewrap is missing"),
            "nsenter": ("warn", "needed to exec commands inside sessions"),
            "setpriv": (
                "missing" if self.is_root else "warn",
                "needed to run sessions as their own uid",
            ),
            "setsid": ("missing", "needed to start sessions detached"),
        }
        for label, path in (
            ("unshare", t.unshare),
            ("nsenter", t.nsenter),
            ("setpriv", t.setpriv),
            ("setsid", t.setsid),
        ):
            status, why = needed[label]
            rows.append((label, "ok", path) if path else (label, status, f"util-linux; {why}"))
        if mode is SandboxMode.NONE:
            rows.append(
                (
                    "sandbox",
                    "missing",
                    "none: sessions are refused unless local_allow_unisolated is set",
                )
            )
        else:
            rows.append(
                (
                    "sandbox",
                    "ok" if self.is_root else "warn",
                    f"{mode.value}{' (user namespace)' if self.userns else ''}",
                )
            )
        v1 = sorted({c for c, _ in self.cgroups.v1})
        rows.append(("cgroup v1", "ok" if v1 else "warn", ", ".join(v1) if v1 else "not mounted"))
        if self.cgroups.unified:
            features = [
                f"controllers: {', '.join(self.cgroup2_controllers) or 'none'}",
                f"freeze: {'yes' if self.cgroup2_freeze else 'no'}",
                f"kill: {'yes' if self.cgroup2_kill else 'no'}",
            ]
            rows.append(
                (
                    "cgroup2",
                    "ok" if self.cgroup2_freeze else "warn",
                    f"{self.cgroups.unified} ({'; '.join(features)})",
                )
            )
        else:
            rows.append(("cgroup2", "warn", "not mounted"))
        backend = self.cgroup_backend()
        if backend is None:
            rows.append(
                (
                    "limits",
                    "warn",
                    "no writable cgroups: no cpu/memory/pids limits, suspend by SIGSTOP",
                )
            )
        else:
            rows.append(("limits", "ok", f"{backend.kind}: cpu, memory, pids per session"))
        rows.append(("tar", "ok", t.tar) if t.tar else ("tar", "missing", "archive needs tar"))
        if t.zstd:
            rows.append(("zstd", "ok", t.zstd))
        else:
            rows.append(("zstd", "warn", "missing: archives use gzip (slower)"))
        rows.append(
            ("python3", "ok", t.python)
            if t.python
            else ("python3", "warn", "no system interpreter: egress relays cannot run")
        )
        if self.isolated and self.seccomp_gap:
            rows.append(("seccomp", "missing", f"sessions run without it: {self.seccomp_gap}"))
        elif self.isolated:
            rows.append(("seccomp", "ok", "every session and exec: Docker's default denials"))
        return rows


def _which(name: str) -> str | None:
    return shutil.which(name, path=_SBIN_PATH)


def _runs(argv: list[str]) -> bool:
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _bwrap_version(bwrap: str) -> str:
    try:
        out = subprocess.run(
            [bwrap, "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.strip().removeprefix("bubblewrap").strip()


def probe(*, trial: bool = True) -> LocalHost:
    """Look at this machine. ``trial`` also starts a throwaway sandbox with each tool found."""
    is_root = os.geteuid() == 0
    tools = Tools(
        sh=_which("sh") or "/bin/sh",
        setsid=_which("setsid"),
        setpriv=_which("setpriv"),
        bwrap=_which("bwrap"),
        unshare=_which("unshare"),
        nsenter=_which("nsenter"),
        chroot=_which("chroot"),
        mount=_which("mount"),
        env=_which("env") or "/usr/bin/env",
        tar=_which("tar"),
        zstd=_which("zstd"),
        gzip=_which("gzip"),
        python=next((p for p in _SYSTEM_PYTHONS if os.access(p, os.X_OK)), None),
    )
    true = _which("true") or "/bin/true"
    bwrap_works = False
    if tools.bwrap:
        namespaces = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
        if not is_root:
            namespaces.append("--unshare-user")
        bwrap_works = not trial or _runs(
            [
                tools.bwrap,
                *namespaces,
                "--ro-bind",
                "/",
                "/",
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                true,
            ]
        )
    unshare_works = False
    if tools.unshare and is_root:
        unshare_works = not trial or _runs(
            [tools.unshare, "--pid", "--fork", "--mount", "--net", "--ipc", "--uts", true]
        )
    mounts = CgroupMounts.read()
    writable_roots = [mp for _, mp in mounts.v1] + ([mounts.unified] if mounts.unified else [])
    writable = is_root and any(os.access(mp, os.W_OK) for mp in writable_roots)
    controllers: tuple[str, ...] = ()
    if mounts.unified:
        try:
            controllers = tuple((Path(mounts.unified) / "cgroup.controllers").read_text().split())
        except OSError:
            controllers = ()
    kernel = kernel_version()
    return LocalHost(
        is_root=is_root,
        tools=tools,
        bwrap_version=_bwrap_version(tools.bwrap) if tools.bwrap else "",
        bwrap_works=bwrap_works,
        unshare_works=unshare_works,
        cgroups=mounts,
        cgroups_writable=writable,
        cgroup2_controllers=controllers,
        cgroup2_freeze=mounts.unified is not None and kernel >= (5, 2),
        cgroup2_kill=mounts.unified is not None and kernel >= (5, 14),
        seccomp_gap=seccomp.supported() or ("" if tools.python else "no /usr/bin/python3"),
    )


def swap_configured() -> bool:
    """Some swap is active on the host (``/proc/swaps`` lists a device or file)."""
    try:
        with open("/proc/swaps") as fh:
            return len(fh.read().strip().splitlines()) > 1
    except OSError:
        return False
