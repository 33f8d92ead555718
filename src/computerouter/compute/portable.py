"""Portable copies: the workspace of an archived session, kept by the router itself.

A provider's archive is reachable only through that provider. So that a session can carry on
elsewhere while its provider is down, :meth:`ComputeRouter.archive` also takes a portable copy
(see :class:`~computerouter.providers.base.WorkspaceTransfer`) just before the provider
archives, into ``home/workspaces/<session id>.tar.gz``, with the time it was taken beside it.

A copy is only ever used for the archive it was taken for: one taken before the session last
ran is stale (the session ran on, and its provider's archive is newer), and never used.
Copies go when the session comes back on its own provider, moves, or is destroyed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from computerouter.domain.session import SessionRecord
from computerouter.domain.states import SessionState
from computerouter.errors import ComputeRouterError
from computerouter.providers.base import WorkspaceTransfer

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter

__all__ = ["PortableCopies"]

log = logging.getLogger(__name__)


class PortableCopies:
    def __init__(self, router: ComputeRouter) -> None:
        self._router = router
        self.root = router.settings.home / "workspaces"

    def path(self, session_id: str) -> Path:
        return self.root / f"{session_id}.tar.gz"

    def _taken(self, session_id: str) -> Path:
        return self.root / f"{session_id}.json"

    def take(self, record: SessionRecord) -> bool:
        """Copy the workspace of ``record`` (about to be archived). Best effort: a copy that
        cannot be taken is removed rather than left stale, and the archive goes on."""
        router = self._router
        provider = router.provider(record.provider)
        if (
            not router.settings.portable_copies
            or record.instance_id is None
            or not isinstance(provider, WorkspaceTransfer)
        ):
            return False
        self.drop(record.id)
        taken_at = router.clock.now()
        try:
            provider.export_workspace(record.instance_id, self.path(record.id))
        except ComputeRouterError as exc:
            log.warning("session %s: no portable copy of its workspace: %s", record.id, exc)
            self.drop(record.id)
            return False
        self._taken(record.id).write_text(json.dumps({"taken_at": taken_at}))
        return True

    def usable(self, record: SessionRecord) -> Path | None:
        """The copy of archived ``record``'s workspace, if it is as new as its archive."""
        if record.state is not SessionState.ARCHIVED:
            return None
        copy = self.path(record.id)
        try:
            taken_at = float(json.loads(self._taken(record.id).read_text())["taken_at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not copy.is_file():
            return None
        ran_since = any(
            row.to_state is SessionState.RUNNING and row.at >= taken_at
            for row in self._router.store.sessions.history(record.id)
        )
        return None if ran_since else copy

    def drop(self, session_id: str) -> None:
        self.path(session_id).unlink(missing_ok=True)
        self._taken(session_id).unlink(missing_ok=True)
