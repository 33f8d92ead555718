"""The environment a test gives a child process of the product (a CLI, a server, a daemon)."""

from __future__ import annotations

import os

__all__ = ["child_env"]


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``COMPUTEROUTER_*`` setting (so the machine's
    own settings never leak into a test's child), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPUTEROUTER_")}
    env.update(extra)
    return env
