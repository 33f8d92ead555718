"""Cgroup backends: picked by what is mounted; groups and limits written where they belong."""

from __future__ import annotations

from pathlib import Path

from computerouter.domain.values import Resources
from computerouter.providers.local.cgroups import (
    CgroupMounts,
    HybridCgroups,
    UnifiedCgroups,
    detect_cgroups,
)

HYBRID = """\
sysfs /sys sysfs rw,nosuid 0 0
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""
COMOUNTED = "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n"
PURE_V2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,nsdelegate 0 0\n"


def test_parse_hybrid_mounts() -> None:
    mounts = CgroupMounts.parse(HYBRID)
    assert mounts.unified == "/sys/fs/cgroup/unified"
    assert mounts.v1_path("memory") == Path("/sys/fs/cgroup/memory")
    assert mounts.v1_path("systemd") is None  # a named hierarchy, not a controller
    assert mounts.v1_path("blkio") is None


def test_parse_comounted_controllers() -> None:
    mounts = CgroupMounts.parse(COMOUNTED)
    assert mounts.v1_path("cpu") == mounts.v1_path("cpuacct") == Path("/sys/fs/cgroup/cpu,cpuacct")


def test_backend_choice() -> None:
    assert isinstance(detect_cgroups(CgroupMounts.parse(HYBRID), writable=True), HybridCgroups)
    assert isinstance(detect_cgroups(CgroupMounts.parse(PURE_V2), writable=True), UnifiedCgroups)
    assert detect_cgroups(CgroupMounts.parse(HYBRID), writable=False) is None
    assert detect_cgroups(CgroupMounts.parse(""), writable=True) is None


def fake_hybrid(tmp_path: Path) -> tuple[HybridCgroups, Path]:
    base = tmp_path / "cg"
    lines = [f"cgroup {base / c} cgroup rw,{c} 0 0" for c in ("cpu", "cpuacct", "memory", "pids")]
    lines.append(f"cgroup2 {base / 'unified'} cgroup2 rw 0 0")
    for name in ("cpu", "cpuacct", "memory", "pids", "unified"):
        (base / name).mkdir(parents=True)
    return HybridCgroups(CgroupMounts.parse("\n".join(lines))), base


def test_hybrid_writes_v1_limits_and_joins_every_hierarchy(tmp_path: Path) -> None:
    backend, base = fake_hybrid(tmp_path)
    name = "computerouter/local-x/lc-a"
    (base / "memory" / name).mkdir(parents=True)
    (base / "memory" / name / "memory.memsw.limit_in_bytes").write_text("")

    backend.create(name, Resources(cpus=1.5, memory_mb=256, pids=64))

    group = {h: base / h / name for h in ("cpu", "cpuacct", "memory", "pids", "unified")}
    assert (group["cpu"] / "cpu.cfs_period_us").read_text() == "100000"
    assert (group["cpu"] / "cpu.cfs_quota_us").read_text() == "150000"
    assert (group["memory"] / "memory.limit_in_bytes").read_text() == str(256 << 20)
    assert (group["memory"] / "memory.memsw.limit_in_bytes").read_text() == str(256 << 20)
    assert (group["pids"] / "pids.max").read_text() == "64"
    assert sorted(backend.join_files(name)) == sorted(g / "cgroup.procs" for g in group.values())
    assert backend.exists(name)
    assert backend.children("computerouter/local-x") == ["lc-a"]


def test_hybrid_reads_usage_from_cgroup2_and_pids_from_all(tmp_path: Path) -> None:
    backend, base = fake_hybrid(tmp_path)
    name = "computerouter/local-x/lc-a"
    backend.create(name, Resources())
    (base / "unified" / name / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 1\n")
    (base / "memory" / name / "memory.usage_in_bytes").write_text("4096\n")
    (base / "cpu" / name / "cgroup.procs").write_text("10\n11\n")
    (base / "unified" / name / "cgroup.procs").write_text("11\n12\n")

    assert backend.cpu_seconds(name) == 2.5
    assert backend.memory_bytes(name) == 4096
    assert backend.pids(name) == [10, 11, 12]


def test_unified_delegates_controllers_and_writes_v2_limits(tmp_path: Path) -> None:
    mount = tmp_path / "cgroup"
    name = "computerouter/local-x/lc-a"
    levels = [mount, mount / "computerouter", mount / "computerouter/local-x", mount / name]
    for level in levels:
        level.mkdir(parents=True, exist_ok=True)
        (level / "cgroup.controllers").write_text("cpu io memory pids\n")
        (level / "cgroup.subtree_control").write_text("")
    for limit in ("cpu.max", "memory.max", "memory.swap.max", "pids.max"):
        (mount / name / limit).write_text("max\n")

    UnifiedCgroups(mount).create(name, Resources(cpus=0.5, memory_mb=128, pids=32))

    for ancestor in levels[:-1]:
        # Each write enables one controller; the fake file keeps the last one.
        assert (ancestor / "cgroup.subtree_control").read_text() == "+pids"
    assert (mount / name / "cpu.max").read_text() == "50000 100000"
    assert (mount / name / "memory.max").read_text() == str(128 << 20)
    assert (mount / name / "memory.swap.max").read_text() == "0"
    assert (mount / name / "pids.max").read_text() == "32"


def test_kill_of_a_half_made_group_without_a_freezer_group(tmp_path: Path) -> None:
    """A create killed after the v1 groups but before the cgroup2 group: killing what is there
    must not trip over the missing freezer (the reconciler tears such leftovers down)."""
    backend, base = fake_hybrid(tmp_path)
    name = "computerouter/local-x/lc-half"
    (base / "memory" / name).mkdir(parents=True)
    (base / "memory" / name / "cgroup.procs").write_text("")
    assert backend.exists(name)

    backend.kill(name, timeout_s=1.0)

    assert backend.pids(name) == []
