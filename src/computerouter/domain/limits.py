"""The documented limits on everything a caller hands in, and the pure checks that apply them.

One place, so the README, the CLI and the API cannot disagree. Sizes are in bytes of UTF-8:
a limit is checked before anything is stored or sent on, and a file is read with the limit as
a cap (see :mod:`computerouter.inputs`), so an endless source such as ``/dev/zero`` costs at
most the limit in memory.

Why these numbers: Hermes's API server refuses a request body over 10 MB (HTTP 413), and a
turn carries the agent's prompt and the run's input JSON-escaped, which can grow text up to
six times (a control character becomes ``\\u001b``). 256 KiB each keeps the worst case near
3 MiB, far under that, and is still far more than any sane prompt or message.
"""

from __future__ import annotations

import math
import re

from computerouter.errors import InputError

__all__ = [
    "CONFIG_FILE_MAX_BYTES",
    "DURATION_MAX_S",
    "EXEC_TIMEOUT_MAX_S",
    "INPUT_MAX_BYTES",
    "KEY_PART_MAX_CHARS",
    "MAX_API_WORKERS",
    "PROMPT_MAX_BYTES",
    "REGION_MAX_CHARS",
    "RUNTIME_REQUEST_MAX_BYTES",
    "SLUG_MAX_CHARS",
    "check_api_workers",
    "check_duration",
    "check_region",
    "check_text",
    "decode_text",
    "format_bytes",
]

PROMPT_MAX_BYTES = 256 * 1024
"""An agent's system prompt (``--prompt-file``)."""
INPUT_MAX_BYTES = 256 * 1024
"""One run's input (the argument, ``--input-file FILE`` or ``--input-file -`` for stdin)."""
CONFIG_FILE_MAX_BYTES = 1024 * 1024
"""``config.toml`` and ``prices.toml``."""
KEY_PART_MAX_CHARS = 128
"""User and sandbox ids: 1-128 of ``[A-Za-z0-9._-]``, starting with a letter or digit."""
SLUG_MAX_CHARS = 63
"""Agent slugs: 1-63 of lower-case letters, digits and ``-``, starting with a letter or digit."""
REGION_MAX_CHARS = 64
"""Regions: 1-64 of lower-case letters, digits, ``-`` and ``_``, starting alphanumeric."""
DURATION_MAX_S = 3650 * 86400.0
"""Lifecycle windows (idle suspend, archive after) and other durations: at most ten years."""
EXEC_TIMEOUT_MAX_S = 86400.0
"""``compute sessions exec --timeout``: more than zero, at most one day."""
MAX_API_WORKERS = 64
"""Worker processes of ``computerouter serve`` (``--workers``, ``api_workers``): 1 to this."""
RUNTIME_REQUEST_MAX_BYTES = 10_000_000
"""The largest request body Hermes's API server accepts (its ``MAX_REQUEST_BYTES``); the
prompt and input limits above are chosen so a turn always fits."""

_REGION = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def format_bytes(size: int) -> str:
    """``262144`` → ``"256 KiB"``; exact for the limits above."""
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


def decode_text(data: bytes, *, what: str, limit: int) -> str:
    """Bytes of a file or stream as text, or :class:`InputError`: larger than ``limit``, not
    UTF-8, or holding NUL bytes (a binary file)."""
    if len(data) > limit:
        raise InputError(f"{what} is larger than the limit of {format_bytes(limit)}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} is not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x})"
        ) from None
    if "\x00" in text:
        raise InputError(f"{what} holds NUL bytes; it looks like a binary file, not text")
    return text


def check_text(text: str, *, what: str, limit: int) -> str:
    """Text given directly (a command-line argument): the same rules as :func:`decode_text`.
    Arguments that were not UTF-8 arrive with lone surrogates; they are refused here."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what} is not UTF-8 text") from None
    return decode_text(data, what=what, limit=limit)


def check_region(region: str) -> str:
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise InputError(
            f"region {region!r} is not valid: 1-{REGION_MAX_CHARS} of lower-case letters, "
            "digits, '-' and '_'"
        )
    return region


def check_api_workers(workers: int) -> int:
    if not 1 <= workers <= MAX_API_WORKERS:
        raise InputError(f"workers must be 1 to {MAX_API_WORKERS}, not {workers}")
    return workers


def check_duration(seconds: float, *, what: str, positive: bool = False) -> float:
    """A finite duration of at most :data:`DURATION_MAX_S`, not negative (not zero either
    when ``positive``), or :class:`InputError`."""
    low_ok = seconds > 0 if positive else seconds >= 0
    if not math.isfinite(seconds) or not low_ok or seconds > DURATION_MAX_S:
        floor = "more than 0 s" if positive else "at least 0 s"
        raise InputError(
            f"{what} must be {floor} and at most {DURATION_MAX_S / 86400:g} days, not {seconds:g} s"
        )
    return seconds
