"""Planning a session's filesystem view against a fake host."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

import pytest

from computerouter.domain.values import MountSpec
from computerouter.errors import InputError
from computerouter.providers.local.mounts import (
    Mount,
    MountOp,
    plan_mounts,
    render_bwrap,
    render_shell,
)


class FakeFS:
    """A host filesystem as a dict: path -> "dir" / "file" / ("symlink", target)."""

    def __init__(self, entries: Mapping[str, object]) -> None:
        self.entries = entries

    def listdir(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return sorted(
            p[len(prefix) :]
            for p in self.entries
            if p.startswith(prefix) and "/" not in p[len(prefix) :]
        )

    def kind(self, path: str) -> str | None:
        entry = self.entries.get(path)
        if entry is None:
            return None
        return "symlink" if isinstance(entry, tuple) else str(entry)

    def readlink(self, path: str) -> str:
        entry = self.entries[path]
        assert isinstance(entry, tuple)
        return str(entry[1])


HOST = {
    "/usr": "dir",
    "/usr/bin": "dir",
    "/usr/share": "dir",
    "/usr/share/doc": "dir",
    "/usr/share/readme": "file",
    "/lib64": ("symlink", "usr/lib64"),
    "/etc": "dir",
    "/etc/hosts": "file",
    "/etc/ssl": "dir",
    "/etc/shadow": "file",
    "/etc/ssh": "dir",
    "/home": "dir",
    "/var": "dir",
    "/var/lib": "dir",
    "/bin": ("symlink", "usr/bin"),
    "/opt": "dir",
    "/opt/tool": "dir",
    "/opt/readme": "file",
    "/proc": "dir",
    "/sys": "dir",
    "/dev": "dir",
    "/tmp": "dir",
    "/run": "dir",
    "/root": "dir",
    "/root/.cr": "dir",
    "/root/.cr/local": "dir",
    "/.dockerenv": "file",
    "/srv": "dir",
    "/srv/models": "dir",
}


def plan(extra: tuple[MountSpec, ...] = (), root: str = "/root/.cr/local") -> list[Mount]:
    return plan_mounts(
        workspace="/root/.cr/local/instances/x/workspace",
        sock_dir="/run/s/x",
        runtime_dir="/root/.cr/local/instances/x/runtime",
        provider_root=root,
        extra=extra,
        fs=FakeFS(HOST),
    )


def index(mounts: list[Mount], op: MountOp, dest: str) -> int:
    return next(i for i, m in enumerate(mounts) if m.op is op and m.dest == dest)


def test_only_system_dirs_and_a_curated_etc_are_shown_read_only() -> None:
    mounts = plan()
    ro = {m.dest for m in mounts if m.op is MountOp.RO_BIND and m.source == m.dest}
    assert ro == {"/usr", "/etc/hosts", "/etc/ssl"}
    shown = {m.dest for m in mounts}
    hidden = ("/home", "/root", "/srv", "/opt/tool", "/opt/readme", "/var/lib", "/etc/shadow")
    for private in (*hidden, "/etc/ssh"):
        assert not any(d == private or d.startswith(private + "/") for d in shown), private
    assert not any(m.op is MountOp.BIND and m.source == m.dest for m in mounts)
    assert Mount(op=MountOp.SYMLINK, dest="/bin", source="usr/bin") in mounts
    assert Mount(op=MountOp.SYMLINK, dest="/lib64", source="usr/lib64") in mounts
    assert index(mounts, MountOp.TMPFS, "/etc") < index(mounts, MountOp.RO_BIND, "/etc/hosts")
    assert Mount(op=MountOp.TMPFS, dest="/var/tmp", mode=0o1777) in mounts
    assert Mount(op=MountOp.TMPFS, dest="/tmp", mode=0o1777) in mounts
    assert any(m.op is MountOp.PROC for m in mounts)
    assert any(m.op is MountOp.DEV for m in mounts)
    assert all(m.dest != "/sys" for m in mounts)


def test_session_binds_land_at_fixed_places() -> None:
    mounts = plan()
    assert (
        Mount(op=MountOp.BIND, dest="/workspace", source="/root/.cr/local/instances/x/workspace")
        in mounts
    )
    assert Mount(op=MountOp.BIND, dest="/run/computerouter", source="/run/s/x") in mounts
    assert (
        Mount(
            op=MountOp.RO_BIND,
            dest="/opt/computerouter/runtime",
            source="/root/.cr/local/instances/x/runtime",
        )
        in mounts
    )


def test_a_parent_not_shown_is_made_on_the_fresh_root() -> None:
    mounts = plan()
    # /opt is not shown: /opt/computerouter is made on the root's tmpfs, then the runtime bound.
    made = index(mounts, MountOp.DIR, "/opt/computerouter")
    assert made < index(mounts, MountOp.RO_BIND, "/opt/computerouter/runtime")
    assert all(m.source != "/opt/tool" for m in mounts)


def test_missing_parent_under_a_read_only_dir_splays_it() -> None:
    mounts = plan(extra=(MountSpec(source="/srv/models", target="/usr/share/cr/models"),))
    # /usr/share/cr does not exist on the host: /usr/share becomes a tmpfs with its children
    # bound back, then the directory is made, then the extra mount bound.
    tmpfs = index(mounts, MountOp.TMPFS, "/usr/share")
    assert index(mounts, MountOp.RO_BIND, "/usr") < tmpfs
    assert tmpfs < index(mounts, MountOp.RO_BIND, "/usr/share/doc")
    assert tmpfs < index(mounts, MountOp.RO_BIND, "/usr/share/readme")
    made = index(mounts, MountOp.DIR, "/usr/share/cr")
    assert tmpfs < made < index(mounts, MountOp.RO_BIND, "/usr/share/cr/models")
    assert next(m for m in mounts if m.dest == "/usr/share/readme").file


def test_provider_root_in_a_shown_directory_is_hidden_last() -> None:
    mounts = plan(root="/usr/cr/local")
    assert mounts[-1] != Mount(op=MountOp.TMPFS, dest="/usr/cr/local", mode=0o700)  # absent
    hosted = {**HOST, "/usr/cr": "dir", "/usr/cr/local": "dir"}
    mounts = plan_mounts(
        workspace="/usr/cr/local/instances/x/workspace",
        sock_dir="/run/s/x",
        runtime_dir="/usr/cr/local/instances/x/runtime",
        provider_root="/usr/cr/local",
        fs=FakeFS(hosted),
    )
    assert mounts[-1] == Mount(op=MountOp.TMPFS, dest="/usr/cr/local", mode=0o700)


def test_provider_root_not_shown_needs_no_tmpfs() -> None:
    assert all(m.dest != "/root/.cr/local" for m in plan())


def test_provider_root_under_tmp_needs_no_extra_tmpfs() -> None:
    mounts = plan(root="/tmp/pytest/local")
    assert all(m.dest != "/tmp/pytest/local" for m in mounts)


def test_extra_mounts_are_read_only_and_may_need_a_splay() -> None:
    mounts = plan(
        extra=(
            MountSpec(source="/srv/models", target="/models"),
            MountSpec(source="/srv/models", target="/usr/share/doc/cache/x"),
        )
    )
    assert Mount(op=MountOp.RO_BIND, dest="/models", source="/srv/models") in mounts
    assert index(mounts, MountOp.TMPFS, "/usr/share/doc") < index(
        mounts, MountOp.DIR, "/usr/share/doc/cache"
    )


@pytest.mark.parametrize(
    "target",
    [
        "relative",
        "/",
        "/a/../b",
        "/workspace",
        "/workspace/x",
        "/proc/x",
        "/run/computerouter",
        "/opt/computerouter/runtime/x",
    ],
)
def test_bad_mount_targets_are_refused(target: str) -> None:
    with pytest.raises(InputError):
        plan(extra=(MountSpec(source="/srv", target=target),))


def test_a_target_through_a_host_symlink_is_refused() -> None:
    with pytest.raises(InputError, match="symlink"):
        plan(extra=(MountSpec(source="/srv", target="/bin/tools"),))


def test_duplicate_targets_are_refused() -> None:
    with pytest.raises(InputError, match="share a target"):
        plan(extra=(MountSpec(source="/srv", target="/m"), MountSpec(source="/usr", target="/m")))


def test_render_bwrap_keeps_order_and_modes() -> None:
    args = render_bwrap(
        [
            Mount(op=MountOp.RO_BIND, dest="/usr", source="/usr"),
            Mount(op=MountOp.TMPFS, dest="/tmp", mode=0o1777),
            Mount(op=MountOp.DIR, dest="/opt/x"),
            Mount(op=MountOp.SYMLINK, dest="/bin", source="usr/bin"),
            Mount(op=MountOp.PROC, dest="/proc"),
            Mount(op=MountOp.DEV, dest="/dev"),
            Mount(op=MountOp.BIND, dest="/workspace", source="/w"),
        ]
    )
    assert args == [
        "--ro-bind",
        "/usr",
        "/usr",
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",
        "--perms",
        "0755",
        "--dir",
        "/opt/x",
        "--symlink",
        "usr/bin",
        "/bin",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--bind",
        "/w",
        "/workspace",
    ]


def test_render_shell_builds_the_view_under_the_new_root() -> None:
    lines = render_shell(plan(), new_root="/r", mount_bin="/usr/bin/mount")
    text = "\n".join(lines)
    assert lines[0].startswith("/usr/bin/mount -t tmpfs")
    assert lines[0].endswith(" /r")
    assert "/usr/bin/mount --bind /usr /r/usr" in text
    assert "/usr/bin/mount -o remount,bind,ro,nosuid,nodev /r/usr" in text
    assert "ln -s usr/bin /r/bin" in text
    assert "/usr/bin/mount --bind /root/.cr/local/instances/x/workspace /r/workspace" in text
    assert "touch /r/etc/hosts" in text
    assert lines[-1] == "/usr/bin/mount -o remount,ro,nosuid,nodev /r"
    # The workspace stays writable: it is never remounted read-only.
    assert "remount,bind,ro,nosuid,nodev /r/workspace" not in text
    assert posixpath.join("/r", "proc") in text
