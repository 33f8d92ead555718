"""Reading an instance's logs: the tree's ``session.log`` and the runtime's own log files.

The runtime's files live in the workspace, which the tenant controls, so they are opened one
path component at a time with ``O_NOFOLLOW`` beneath the workspace (a symlink cannot point the
reader at a host file), only regular files are read, and reads are bounded. Control characters
are shown escaped, so a line cannot drive the operator's terminal.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from computerouter.domain.logs import GATEWAY_LOG, SESSION_LOG, LogLine
from computerouter.providers.local.errors import translate
from computerouter.providers.local.layout import Layout
from computerouter.providers.local.metadata import InstanceRecord

__all__ = ["FOLLOW_POLL_S", "read_logs", "safe_log_path"]

FOLLOW_POLL_S = 0.2
"""How often ``follow`` looks for new lines."""
_TAIL_MAX_BYTES = 4 * 1024 * 1024
"""The most read from the end of one file for its last lines."""
_READ_MAX_BYTES = 1024 * 1024
"""The most read from one file in one poll while following."""
_LINE_MAX_BYTES = 64 * 1024
"""A line longer than this (no newline in sight) is handed out in pieces."""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe_log_path(relative: str) -> PurePosixPath | None:
    """``relative`` as a path strictly inside the workspace, or None if it is not one."""
    path = PurePosixPath(relative)
    if path.is_absolute() or not path.parts or any(p in ("", ".", "..") for p in path.parts):
        return None
    return path


def _show(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").rstrip("\r")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _open_beneath(root: Path, relative: PurePosixPath | None) -> int | None:
    """An fd of the regular file ``root/relative`` reached without following any symlink,
    or None (missing, a symlink, not a regular file). ``None`` relative: ``root`` is the file."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        if relative is None:
            fd = os.open(root, flags)
        else:
            dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                for part in relative.parts[:-1]:
                    inner = os.open(
                        part,
                        os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                        dir_fd=dir_fd,
                    )
                    os.close(dir_fd)
                    dir_fd = inner
                fd = os.open(relative.parts[-1], flags, dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _tail(fd: int, size: int, lines: int) -> list[bytes]:
    if lines <= 0 or size == 0:
        return []
    start = max(0, size - _TAIL_MAX_BYTES)
    data = os.pread(fd, size - start, start)
    if start > 0:
        data = data[data.find(b"\n") + 1 :]  # drop the first, partial line
    found = data.split(b"\n")
    if found and found[-1] == b"":
        found.pop()
    return found[-lines:]


@dataclass(kw_only=True)
class _Source:
    """One log file being read: where it is, and how far it has been read."""

    name: str
    root: Path
    relative: PurePosixPath | None
    inode: int | None = None
    offset: int = 0
    partial: bytes = field(default=b"", repr=False)

    def tail(self, lines: int) -> list[str]:
        fd = _open_beneath(self.root, self.relative)
        if fd is None:
            return []
        try:
            info = os.fstat(fd)
            self.inode, self.offset = info.st_ino, info.st_size
            return [_show(line) for line in _tail(fd, info.st_size, lines)]
        finally:
            os.close(fd)

    def poll(self) -> list[str]:
        fd = _open_beneath(self.root, self.relative)
        if fd is None:
            return []
        try:
            info = os.fstat(fd)
            if info.st_ino != self.inode or info.st_size < self.offset:
                # A new file (rotated, or recreated by a restore) or a truncated one.
                self.inode, self.offset, self.partial = info.st_ino, 0, b""
            if info.st_size <= self.offset:
                return []
            data = os.pread(fd, min(info.st_size - self.offset, _READ_MAX_BYTES), self.offset)
        finally:
            os.close(fd)
        self.offset += len(data)
        pieces = (self.partial + data).split(b"\n")
        self.partial = pieces.pop()
        if len(self.partial) > _LINE_MAX_BYTES:
            pieces.append(self.partial)
            self.partial = b""
        return [_show(p) for p in pieces]


def read_logs(
    layout: Layout,
    instance_id: str,
    record: InstanceRecord | None,
    *,
    lines: int,
    follow: bool,
) -> Iterator[LogLine]:
    """The last ``lines`` lines of each log, then (``follow``) new lines as they come, until
    the caller stops or the instance's directory is gone (destroyed)."""
    paths = layout.paths(instance_id)
    sources = [
        _Source(name=SESSION_LOG, root=paths.log, relative=None),
        _Source(name=GATEWAY_LOG, root=paths.gateway_log, relative=None),
    ]
    for name in record.log_files if record is not None else ():
        relative = safe_log_path(name)
        if relative is not None:
            sources.append(_Source(name=name, root=paths.workspace, relative=relative))
    with translate("logs", instance_id):
        for source in sources:
            for text in source.tail(lines):
                yield LogLine(source=source.name, text=text)
    while follow:
        time.sleep(FOLLOW_POLL_S)
        with translate("logs", instance_id):
            if not paths.dir.exists():
                return
            for source in sources:
                for text in source.poll():
                    yield LogLine(source=source.name, text=text)
