"""Workspace archives: ``tar`` piped through ``zstd -3 -T0`` (``gzip -1`` if zstd is missing).

The CLI pipeline is the fastest option measured here (about 140 MB/s against 91-115 MB/s for
Python ``tarfile`` + ``zstandard``) and needs no extra Python package. Archives are written to
a ``.part`` file and renamed, so a complete-looking archive is always complete. Ownership is
kept numerically: a restored workspace belongs to the same session uid.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import IO

from computerouter.errors import ProviderError
from computerouter.providers.local.sandbox import Tools, drop_privileges
from computerouter.providers.portable import PORTABLE_EXCLUDES, write_durably

__all__ = [
    "ARCHIVE_SUFFIXES",
    "export_portable",
    "find_archive",
    "pack",
    "unpack",
    "unpack_as",
    "unpack_portable",
]


ARCHIVE_SUFFIXES = (".tar.zst", ".tar.gz")


def find_archive(stem: Path) -> Path | None:
    """The complete archive for ``stem`` (``archives/<id>``), whichever codec wrote it."""
    for suffix in ARCHIVE_SUFFIXES:
        candidate = stem.with_name(stem.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def _codec(tools: Tools) -> tuple[str, list[str]]:
    if tools.zstd:
        return ".tar.zst", [tools.zstd, "-3", "-T0", "-q", "-c"]
    if tools.gzip:
        return ".tar.gz", [tools.gzip, "-1", "-c"]
    raise ProviderError("archiving needs zstd or gzip on the host", provider="local")


def _decompressor(tools: Tools, archive: Path) -> list[str]:
    if archive.name.endswith(".tar.zst"):
        if not tools.zstd:
            raise ProviderError(f"{archive.name} needs zstd to unpack", provider="local")
        return [tools.zstd, "-d", "-q", "-c", str(archive)]
    if not tools.gzip:
        raise ProviderError(f"{archive.name} needs gzip to unpack", provider="local")
    return [tools.gzip, "-d", "-c", str(archive)]


def _tail(fh: IO[bytes]) -> str:
    fh.seek(0)
    return fh.read().decode(errors="replace").strip()[-500:]


def _pipeline(
    first: list[str],
    second: list[str],
    *,
    stdout: IO[bytes] | int | None,
    what: str,
    cwd: Path | None = None,
) -> None:
    with tempfile.TemporaryFile() as err1, tempfile.TemporaryFile() as err2:
        producer = subprocess.Popen(
            first, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err1
        )
        try:
            consumer = subprocess.Popen(
                second, stdin=producer.stdout, stdout=stdout, stderr=err2, cwd=cwd
            )
        finally:
            assert producer.stdout is not None
            producer.stdout.close()
        rc2 = consumer.wait()
        rc1 = producer.wait()
        if rc1 != 0 or rc2 != 0:
            detail = _tail(err1) or _tail(err2) or f"exit codes {rc1}, {rc2}"
            raise ProviderError(f"{what} failed: {detail}", provider="local")


def pack(workspace: Path, stem: Path, tools: Tools) -> Path:
    """Archive ``workspace`` to ``stem`` + suffix; return the archive's path."""
    tar = tools.tar
    if not tar:
        raise ProviderError("archiving needs tar on the host", provider="local")
    suffix, compress = _codec(tools)
    final = stem.with_name(stem.name + suffix)

    def write(out: IO[bytes]) -> None:
        _pipeline(
            [tar, "-C", str(workspace), "--numeric-owner", "-cf", "-", "."],
            compress,
            stdout=out,
            what="archive",
        )

    write_durably(final, write)
    return final


def unpack(archive: Path, workspace: Path, tools: Tools) -> None:
    """Unpack into ``workspace`` (which must exist), restoring owners and modes."""
    if not tools.tar:
        raise ProviderError("restoring needs tar on the host", provider="local")
    _pipeline(
        _decompressor(tools, archive),
        [tools.tar, "-C", str(workspace), "--numeric-owner", "--same-owner", "-p", "-xf", "-"],
        stdout=subprocess.DEVNULL,
        what="restore",
    )


def export_portable(source: Path, dest: Path, tools: Tools) -> None:
    """The portable copy (``.tar.gz``, paths relative to the workspace, without
    :data:`PORTABLE_EXCLUDES`) of a workspace directory or of an archive of one."""
    if not tools.tar or not tools.gzip:
        raise ProviderError(
            "a portable workspace copy needs tar and gzip on the host", provider="local"
        )
    excludes = [f"--exclude={pattern}" for pattern in PORTABLE_EXCLUDES]
    tar, gzip = tools.tar, tools.gzip
    if source.is_dir():
        first = [tar, "-C", str(source), "--numeric-owner", *excludes, "-cf", "-", "."]
    else:
        # An archive of a local workspace (which holds no provider files): the same tar
        # stream, recompressed.
        first = _decompressor(tools, source)

    def write(out: IO[bytes]) -> None:
        _pipeline(first, [gzip, "-1", "-c"], stdout=out, what="workspace export")

    write_durably(dest, write)


def unpack_portable(copy: Path, workspace: Path, tools: Tools, *, uid: int | None) -> None:
    """Unpack a portable copy (which may come from another provider's sandbox, so it is not
    trusted) into ``workspace`` as the session's own uid: it can write nowhere that uid could
    not, and owns what it writes."""
    if not tools.tar or not tools.gzip:
        raise ProviderError(
            "unpacking a workspace copy needs tar and gzip on the host", provider="local"
        )
    _pipeline(
        [tools.gzip, "-d", "-c", str(copy)],
        [
            *drop_privileges(tools, uid),
            tools.tar,
            "--no-same-owner",
            "--no-overwrite-dir",
            *[f"--exclude={pattern}" for pattern in PORTABLE_EXCLUDES],
            "-xf",
            "-",
        ],
        stdout=subprocess.DEVNULL,
        what="workspace import",
        cwd=workspace,  # entered before the uid drops: the uid cannot reach it by path
    )


def unpack_as(archive: Path, workspace: Path, tools: Tools, *, uid: int | None) -> None:
    """Unpack an archive into ``workspace`` as ``uid`` (which then owns every file): a
    session's archive restored into another instance, one that runs as another uid."""
    if not tools.tar:
        raise ProviderError("restoring needs tar on the host", provider="local")
    _pipeline(
        _decompressor(tools, archive),
        [*drop_privileges(tools, uid), tools.tar, "--no-same-owner", "-p", "-xf", "-"],
        stdout=subprocess.DEVNULL,
        what="restore",
        cwd=workspace,  # entered before the uid drops
    )
