"""Taking an instance apart: its process tree, session files, archives and directory.

Every step tolerates what is already gone, so a destroy, a failed create or a retried teardown
after a crash all end in the same place: nothing left but the instance's lock file.
"""

from __future__ import annotations

import contextlib

from computerouter.providers.local.archive import find_archive
from computerouter.providers.local.fsutil import rmtree
from computerouter.providers.local.layout import Layout
from computerouter.providers.local.metadata import InstancePaths

__all__ = ["discard_archives", "remove_session_files", "teardown"]


def teardown(layout: Layout, instance_id: str) -> None:
    """Remove everything of an instance but its lock; fine if some or all is gone."""
    paths = layout.paths(instance_id)
    tree = layout.tree(instance_id)
    tree.kill()
    tree.remove()
    remove_session_files(paths)
    discard_archives(paths)
    rmtree(paths.dir)


def discard_archives(paths: InstancePaths) -> None:
    """Remove the instance's archive(s) and any half-written ``.part`` file."""
    archive = find_archive(paths.archive_stem)
    while archive is not None:
        archive.unlink()
        archive = find_archive(paths.archive_stem)
    for leftover in paths.archive_stem.parent.glob(f"{paths.instance_id}.tar.*.part"):
        leftover.unlink()


def remove_session_files(paths: InstancePaths) -> None:
    """What only a running session needs: sockets, runtime files, rootfs, pidfile."""
    rmtree(paths.sock_dir)
    with contextlib.suppress(OSError):
        # The per-root socket base outside the root: leave no empty one behind.
        if paths.sockets != paths.root / "s":
            paths.sockets.rmdir()
    rmtree(paths.runtime_dir)
    rmtree(paths.rootfs)
    with contextlib.suppress(FileNotFoundError):
        paths.pidfile.unlink()
