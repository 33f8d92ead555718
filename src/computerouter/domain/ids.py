"""Identifiers: prefixed, sortable by creation time, safe in paths, labels and URLs."""

from __future__ import annotations

import os
import re
import time

__all__ = [
    "RUN_PREFIX",
    "SESSION_PREFIX",
    "is_valid_key_part",
    "new_id",
    "new_run_id",
    "new_session_id",
]

SESSION_PREFIX = "ses"
RUN_PREFIX = "run"

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_KEY_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _b32(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    """``prefix_`` + 10 chars of milliseconds + 12 random chars (a ULID in lower-case base32)."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(8), "big")
    return f"{prefix}_{_b32(millis, 10)}{_b32(rand, 12)}"


def new_session_id() -> str:
    return new_id(SESSION_PREFIX)


def new_run_id() -> str:
    return new_id(RUN_PREFIX)


def is_valid_key_part(value: str) -> bool:
    """User, sandbox and agent ids: 1-128 of ``[A-Za-z0-9._-]``, starting alphanumeric."""
    return bool(_KEY_PART.fullmatch(value))  # fullmatch: "$" would let a trailing newline in
