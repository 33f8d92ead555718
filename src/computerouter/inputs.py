"""Reading text a caller hands in (a prompt file, a run's input, a settings file), bounded.

Nothing is read whole: a regular file's size is checked before reading, and every source is
read in chunks up to its limit plus one byte, so ``/dev/zero``, a pipe or a 50 MB file costs
at most the limit in memory. Directories, missing files and unreadable files are refused with
one line, as are contents :func:`~computerouter.domain.limits.decode_text` refuses (too large,
not UTF-8, NUL bytes). The limits themselves live in :mod:`computerouter.domain.limits`.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from computerouter.domain.limits import decode_text, format_bytes
from computerouter.errors import ComputeRouterError, InputError

__all__ = ["STDIN", "read_bounded_text"]

STDIN = "-"
"""The path that means standard input."""
_CHUNK = 64 * 1024


def read_bounded_text(
    source: Path | str,
    *,
    what: str,
    limit: int,
    error: type[ComputeRouterError] = InputError,
) -> str:
    """The text of ``source`` (a path, or ``-`` for stdin), at most ``limit`` bytes of UTF-8.

    Raises ``error`` (an :class:`InputError` unless the caller reads settings and wants a
    :class:`~computerouter.errors.ConfigError`) with a one-line message.
    """
    if str(source) == STDIN:
        return _decode(_read_capped(sys.stdin.buffer, limit), what=what, limit=limit, error=error)
    path = Path(source)
    label = f"{what} {str(path)!r}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise error(f"{label} does not exist") from None
    except OSError as exc:
        raise error(f"cannot read {label}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_size > limit):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{label} is a directory, not a file")
        raise error(f"{label} is larger than the limit of {format_bytes(limit)}")
    with os.fdopen(fd, "rb", buffering=0) as fh:
        try:
            data = _read_capped(fh, limit)
        except OSError as exc:
            raise error(f"cannot read {label}: {exc.strerror or exc}") from None
    return _decode(data, what=label, limit=limit, error=error)


def _read_capped(stream: BinaryIO, limit: int) -> bytes:
    """At most ``limit + 1`` bytes: one more than allowed is enough to know it is too much."""
    chunks: list[bytes] = []
    left = limit + 1
    while left > 0:
        chunk = stream.read(min(_CHUNK, left))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _decode(data: bytes, *, what: str, limit: int, error: type[ComputeRouterError]) -> str:
    try:
        return decode_text(data, what=what, limit=limit)
    except InputError as exc:
        if error is InputError:
            raise
        raise error(exc.message) from None
