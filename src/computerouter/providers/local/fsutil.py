"""Filesystem helpers shared by the provider's modules."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

__all__ = ["rmtree"]


def rmtree(path: Path) -> None:
    """Remove a tree, also one whose owner made directories read-only; gone already is fine."""

    def make_writable(func: Callable[..., object], failed: str, _exc: object) -> None:
        parent = os.path.dirname(failed)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
        func(failed)

    if os.path.islink(path):
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=make_writable)
