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
    "/etc": "dir",
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


def test_host_top_level_is_read_only_and_private_dirs_are_fresh() -> None:
    mounts = plan()
    ro = {m.dest for m in mounts if m.op is MountOp.RO_BIND and m.source == m.dest}
    assert {"/usr", "/etc", "/opt", "/root", "/srv"} <= ro
    assert not ro & {"/proc", "/sys", "/dev", "/tmp", "/run", "/.dockerenv"}
    assert not any(m.op is MountOp.BIND and m.source == m.dest for m in mounts)
    assert Mount(op=MountOp.SYMLINK, dest="/bin", source="usr/bin") in mounts
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


def test_missing_parent_under_a_read_only_dir_splays_it() -> None:
    mounts = plan()
    # /opt/computerouter does not exist on the host: /opt becomes a tmpfs with its
    # children bound back, then the directory is made, then the runtime bound.
    tmpfs = index(mounts, MountOp.TMPFS, "/opt")
    assert index(mounts, MountOp.RO_BIND, "/opt") < tmpfs
    assert tmpfs < index(mounts, MountOp.RO_BIND, "/opt/tool")
    assert tmpfs < index(mounts, MountOp.RO_BIND, "/opt/readme")
    made = index(mounts, MountOp.DIR, "/opt/computerouter")
    assert tmpfs < made < index(mounts, MountOp.RO_BIND, "/opt/computerouter/runtime")
    assert next(m for m in mounts if m.dest == "/opt/readme").file


def test_provider_root_is_hidden_last() -> None:
    mounts = plan()
    assert mounts[-1] == Mount(op=MountOp.TMPFS, dest="/root/.cr/local", mode=0o700)


def test_provider_root_under_tmp_needs_no_extra_tmpfs() -> None:
    mounts = plan(root="/tmp/pytest/local")
    assert all(m.dest != "/tmp/pytest/local" for m in mounts)


def test_extra_mounts_are_read_only_and_may_need_a_splay() -> None:
    mounts = plan(
        extra=(
            MountSpec(source="/srv/models", target="/models"),
            MountSpec(source="/srv/models", target="/srv/models/cache/x"),
        )
    )
    assert Mount(op=MountOp.RO_BIND, dest="/models", source="/srv/models") in mounts
    assert index(mounts, MountOp.TMPFS, "/srv/models") < index(
        mounts, MountOp.DIR, "/srv/models/cache"
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
    assert "touch /r/opt/readme" in text
    assert lines[-1] == "/usr/bin/mount -o remount,ro,nosuid,nodev /r"
    # The workspace stays writable: it is never remounted read-only.
    assert "remount,bind,ro,nosuid,nodev /r/workspace" not in text
    assert posixpath.join("/r", "proc") in text
