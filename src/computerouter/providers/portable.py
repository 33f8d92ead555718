"""What every provider's workspace transfer shares (see
:class:`~computerouter.providers.base.WorkspaceTransfer`): what a portable copy leaves out, and
how a copy (or any archive) is written so that it is complete or not there at all."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["PORTABLE_EXCLUDES", "write_durably"]

PORTABLE_EXCLUDES = ("./.computerouter",)
"""A provider's own files inside a workspace (its copy of the runtime): never in a portable
copy, since the provider a session moves to places its own."""


def write_durably(dest: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``dest`` through ``.part``, fsynced and renamed: complete or not there."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        with open(part, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
