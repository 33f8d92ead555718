"""Running the real command line in a subprocess, its output piped (not a terminal)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from computerouter.store import Store, open_store
from computerouter.testing.environment import child_env

__all__ = ["cli", "store_of"]


def cli(
    home: Path, *args: str, timeout: float = 60, **settings: str
) -> subprocess.CompletedProcess[str]:
    """``computerouter ARGS`` on ``home``, billed, with ``settings`` as its environment
    (``billing="false"`` is ``COMPUTEROUTER_BILLING=false``)."""
    env = child_env()
    env.pop("COLUMNS", None)
    env["COMPUTEROUTER_HOME"] = str(home)
    env["COMPUTEROUTER_BILLING"] = "true"
    env |= {f"COMPUTEROUTER_{name.upper()}": value for name, value in settings.items()}
    return subprocess.run(
        [sys.executable, "-m", "computerouter", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def store_of(home: Path) -> Store:
    return open_store(f"sqlite:///{home / 'computerouter.db'}")
