"""The portable copy of an instance's workspace (:meth:`LocalProvider.export_workspace`)."""

from __future__ import annotations

from pathlib import Path

from computerouter.errors import ProviderError
from computerouter.providers.local.archive import export_portable, find_archive
from computerouter.providers.local.errors import PROVIDER
from computerouter.providers.local.layout import Layout
from computerouter.providers.local.metadata import RecordedState
from computerouter.providers.local.observe import require_record

__all__ = ["export_workspace"]


def export_workspace(layout: Layout, instance_id: str, dest: Path) -> None:
    """The portable copy of the workspace, from the workspace itself (a running tree is frozen
    while it is read, so the copy is consistent) or from the archive that holds it; the
    instance is left as it was. The caller holds the instance's lock."""
    record = require_record(layout, instance_id)
    paths = layout.paths(instance_id)
    archive = find_archive(paths.archive_stem)
    if record.state in (RecordedState.ARCHIVED, RecordedState.RESTORING):
        if archive is None:
            raise ProviderError(
                f"cannot export {instance_id}: its archive is missing", provider=PROVIDER
            )
        export_portable(archive, dest, layout.host.tools)
        return
    if not paths.workspace.is_dir():
        raise ProviderError(f"cannot export {instance_id}: it has no workspace", provider=PROVIDER)
    tree = layout.tree(instance_id)
    thaw_after = bool(tree.pids()) and not tree.frozen()
    if thaw_after:
        tree.freeze()
    try:
        export_portable(paths.workspace, dest, layout.host.tools)
    finally:
        if thaw_after:
            tree.thaw()
