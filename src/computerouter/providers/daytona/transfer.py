"""Moving a workspace in and out of a Daytona sandbox as a portable copy.

Out: ``tar`` inside the sandbox packs ``/workspace`` (without the router's own runtime files)
into a temporary file, which the toolbox's file download brings back. In: the copy is uploaded
and unpacked inside the sandbox, before the runtime is placed. Both need the sandbox started
(the toolbox lives in it); :meth:`DaytonaProvider.export_workspace` starts and stops it again
around the export when it found it stopped or archived.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from computerouter.errors import ProviderError
from computerouter.providers.daytona.errors import PROVIDER, translate
from computerouter.providers.daytona.launch import WORKSPACE
from computerouter.providers.portable import PORTABLE_EXCLUDES, write_durably

__all__ = ["export_to", "seed"]

_EXPORT = "/tmp/.computerouter-export.tar.gz"
_IMPORT = "/tmp/.computerouter-import.tar.gz"
_TIMEOUT_S = 600


def _run(sandbox: Any, command: str, what: str) -> None:
    with translate(what, sandbox.id):
        ran = sandbox.process.exec(command, timeout=_TIMEOUT_S)
    if int(ran.exit_code or 0) != 0:
        tail = str(ran.result).strip().splitlines()[-1:] or [""]
        raise ProviderError(
            f"{what} in {sandbox.id} failed ({ran.exit_code}): {tail[0]}", provider=PROVIDER
        )


def export_to(sandbox: Any, dest: Path) -> None:
    """Write the started sandbox's portable workspace copy to ``dest`` (through ``.part``,
    fsynced and renamed: complete or not there)."""
    excludes = " ".join(f"--exclude={shlex.quote(p)}" for p in PORTABLE_EXCLUDES)
    _run(
        sandbox,
        f"tar -C {WORKSPACE} {excludes} -czf {_EXPORT} . && chmod 600 {_EXPORT}",
        "workspace export",
    )
    try:
        with translate("workspace download", sandbox.id):
            content = sandbox.fs.download_file(_EXPORT)
    finally:
        _run(sandbox, f"rm -f {_EXPORT}", "workspace export clean-up")
    write_durably(dest, lambda out: out.write(content))


def seed(sandbox: Any, source: Path) -> None:
    """Unpack the portable copy at ``source`` into the started sandbox's workspace."""
    with translate("workspace upload", sandbox.id):
        sandbox.fs.upload_file(source.read_bytes(), _IMPORT)
    excludes = " ".join(f"--exclude={shlex.quote(p)}" for p in PORTABLE_EXCLUDES)
    _run(
        sandbox,
        f"mkdir -p {WORKSPACE} && tar -C {WORKSPACE} --no-same-owner {excludes} -xzf {_IMPORT}"
        f"; status=$?; rm -f {_IMPORT}; exit $status",
        "workspace import",
    )
