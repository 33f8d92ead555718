"""What the machine offers, how the sandbox is chosen, and what doctor shows."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

from computerouter.providers.local.cgroups import CgroupMounts
from computerouter.providers.local.host import LocalHost
from computerouter.providers.local.sandbox import SandboxMode, Tools

FULL_TOOLS = Tools(
    setsid="/usr/bin/setsid",
    setpriv="/usr/bin/setpriv",
    bwrap="/usr/bin/bwrap",
    unshare="/usr/bin/unshare",
    nsenter="/usr/bin/nsenter",
    chroot="/usr/sbin/chroot",
    mount="/usr/bin/mount",
    tar="/usr/bin/tar",
    zstd="/usr/bin/zstd",
    gzip="/usr/bin/gzip",
    python="/usr/bin/python3",
)
HYBRID = CgroupMounts(
    v1=(("cpu", "/sys/fs/cgroup/cpu"), ("freezer", "/sys/fs/cgroup/freezer")),
    unified="/sys/fs/cgroup/unified",
)
ROOT_HOST = LocalHost(
    is_root=True,
    tools=FULL_TOOLS,
    bwrap_version="0.8.0",
    bwrap_works=True,
    unshare_works=True,
    cgroups=HYBRID,
    cgroups_writable=True,
    cgroup2_freeze=True,
    cgroup2_kill=True,
    seccomp_gap="",
)


def statuses(host: LocalHost) -> dict[str, str]:
    return {check: status for check, status, _ in host.rows()}


def test_a_full_root_host() -> None:
    assert ROOT_HOST.sandbox is SandboxMode.BWRAP
    assert ROOT_HOST.isolated
    assert not ROOT_HOST.userns
    assert ROOT_HOST.gaps() == ()
    rows = ROOT_HOST.rows()
    assert all(status in ("ok", "warn", "missing") for _, status, _ in rows)
    assert all(status == "ok" for _, status, _ in rows), rows
    assert ("bubblewrap", "ok", "/usr/bin/bwrap 0.8.0") in rows


def test_without_bwrap_root_falls_back_to_unshare() -> None:
    host = dataclasses.replace(
        ROOT_HOST, tools=dataclasses.replace(FULL_TOOLS, bwrap=None), bwrap_works=False
    )
    assert host.sandbox is SandboxMode.UNSHARE
    assert host.isolated
    assert statuses(host)["bubblewrap"] == "warn"  # a fallback is in use: not fatal
    assert "no working bubblewrap" in host.gaps()


def test_unprivileged_bwrap_runs_in_a_user_namespace() -> None:
    host = dataclasses.replace(
        ROOT_HOST, is_root=False, unshare_works=False, cgroups_writable=False
    )
    assert host.sandbox is SandboxMode.BWRAP
    assert host.userns
    assert host.cgroup_backend() is None
    assert statuses(host)["privileges"] == "warn"
    assert statuses(host)["limits"] == "warn"
    assert "not root" in host.gaps()


def test_nothing_to_isolate_with() -> None:
    host = LocalHost(is_root=False)
    assert host.sandbox is SandboxMode.NONE
    assert not host.isolated
    assert statuses(host)["sandbox"] == "missing"
    assert statuses(host)["bubblewrap"] == "missing"
    assert statuses(host)["tar"] == "missing"


def test_missing_means_blocked() -> None:
    host = dataclasses.replace(
        ROOT_HOST, tools=dataclasses.replace(FULL_TOOLS, setpriv=None, nsenter=None, zstd=None)
    )
    assert statuses(host)["setpriv"] == "missing"  # root cannot drop to session uids
    assert statuses(host)["nsenter"] == "warn"  # only exec is lost
    assert statuses(host)["zstd"] == "warn"  # gzip does instead
    assert host.sandbox is SandboxMode.NONE


def test_unshare_needs_root() -> None:
    host = dataclasses.replace(ROOT_HOST, is_root=False, bwrap_works=False)
    assert host.sandbox is SandboxMode.NONE


def test_cgroup2_row_tells_freeze_and_kill() -> None:
    detail = next(d for c, _, d in ROOT_HOST.rows() if c == "cgroup2")
    assert "freeze: yes" in detail
    assert "kill: yes" in detail


def test_a_host_without_seccomp_says_so_in_one_row() -> None:
    host = replace(ROOT_HOST, seccomp_gap="this kernel has no seccomp")
    rows = {check: (status, detail) for check, status, detail in host.rows()}
    assert rows["seccomp"] == ("missing", "sessions run without it: this kernel has no seccomp")
    assert statuses(ROOT_HOST)["seccomp"] == "ok"
