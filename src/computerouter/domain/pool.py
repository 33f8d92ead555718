"""The warm pool's targets: how many pre-booted instances each provider keeps per runtime.

Written in one setting, ``warm_pool``: comma-separated ``PROVIDER:RUNTIME=SIZE`` entries
(``local:hermes=2,local:echo=1``); empty (the default) keeps no pool anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from computerouter.errors import InputError

__all__ = ["PoolTarget", "parse_warm_pool"]

_ENTRY = re.compile(r"^([a-z][a-z0-9_]{0,31}):([a-z][a-z0-9_-]{0,31})=([0-9]{1,3})$")
MAX_POOL_SIZE = 64


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolTarget:
    """Keep ``size`` instances of ``runtime`` booted, warmed and frozen on ``provider``."""

    provider: str
    runtime: str
    size: int


def parse_warm_pool(text: str) -> tuple[PoolTarget, ...]:
    """The targets ``text`` names, in its order; one line naming the bad entry otherwise."""
    targets: list[PoolTarget] = []
    seen: set[tuple[str, str]] = set()
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        match = _ENTRY.match(entry)
        if match is None:
            raise InputError(f"warm pool entry {entry!r} is not PROVIDER:RUNTIME=SIZE")
        provider, runtime, size = match.group(1), match.group(2), int(match.group(3))
        if size > MAX_POOL_SIZE:
            raise InputError(f"warm pool entry {entry!r}: at most {MAX_POOL_SIZE} instances")
        if (provider, runtime) in seen:
            raise InputError(f"warm pool names {provider}:{runtime} twice")
        seen.add((provider, runtime))
        targets.append(PoolTarget(provider=provider, runtime=runtime, size=size))
    return tuple(targets)
