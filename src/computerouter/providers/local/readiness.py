"""Can this host still start local sessions? The ``local`` provider's health probe.

Cheap and without making a session: the isolation the host was found to offer when the
provider started (no trial sandbox is run again), and the sessions root: its nearest existing
directory writable, with room left on its filesystem.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from computerouter.errors import IsolationUnavailable, ProviderUnavailable
from computerouter.providers.local.errors import PROVIDER
from computerouter.providers.local.host import LocalHost

__all__ = ["MIN_FREE_BYTES", "check_ready"]

MIN_FREE_BYTES = 64 * 1024 * 1024
"""Below this much free space a new session's workspace would fail to unpack."""


def check_ready(
    *, host: LocalHost, root: Path, allow_unisolated: bool, min_free_bytes: int = MIN_FREE_BYTES
) -> None:
    """Return when a session could start; else raise: isolation missing (not retryable: an
    operator must install it), or the root unusable or full (retryable: it may clear)."""
    if not host.isolated and not allow_unisolated:
        raise IsolationUnavailable(
            "this machine cannot isolate sessions (no usable bubblewrap, or unshare as root)",
            provider=PROVIDER,
        )
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ProviderUnavailable(
            f"the sessions root {root} cannot be written ({existing} is not a writable directory)",
            provider=PROVIDER,
            retryable=True,
        )
    try:
        free = shutil.disk_usage(existing).free
    except OSError as exc:
        raise ProviderUnavailable(
            f"cannot read the free space under {root}: {exc}", provider=PROVIDER, retryable=True
        ) from exc
    if free < min_free_bytes:
        raise ProviderUnavailable(
            f"{free // (1024 * 1024)} MiB free under {root}: too little for a new session",
            provider=PROVIDER,
            retryable=True,
        )
