"""The Hermes runtime image: a virtualenv with the pinned ``hermes-agent``, built once, cached,
and shared read-only by every session (mounted at :data:`MOUNT_POINT`).

Built from the system interpreter (sessions run as unprivileged users and cannot use an
interpreter under a private home), into a temporary directory renamed into place when complete,
under a file lock so concurrent control planes build it once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from computerouter.domain.values import RuntimeImage
from computerouter.errors import RuntimeFailure
from computerouter.runtimes.echo.runtime import sandbox_python

__all__ = ["HERMES_VERSION", "MOUNT_POINT", "HermesImage", "ProgressFn"]

HERMES_VERSION = "0.19.0"
AIOHTTP_VERSION = "3.14.1"  # the API server needs it; hermes-agent only lists it in extras
MCP_VERSION = "1.26.0"  # Hermes's MCP client (the router's MCP host); also only in extras
MOUNT_POINT = "/opt/hermes"
ProgressFn = Callable[[str, int, int], None]
"""``(what is happening, step, of steps)``; the CLI draws it as a Rich progress bar."""

_STEPS = 4


@dataclass(frozen=True, kw_only=True, slots=True)
class HermesImage:
    images_dir: Path
    version: str = HERMES_VERSION

    @property
    def path(self) -> Path:
        return self.images_dir / f"hermes-{self.version}-mcp{MCP_VERSION}"

    def runtime_image(self) -> RuntimeImage:
        """The image as any provider places it: this built copy, or its install command."""
        venv = MOUNT_POINT
        return RuntimeImage(
            name="hermes",
            version=self.version,
            target=venv,
            install=(
                "/bin/sh",
                "-c",
                f"python3 -m venv {venv} && {venv}/bin/python -m pip install -q "
                f"hermes-agent=={self.version} aiohttp=={AIOHTTP_VERSION} mcp=={MCP_VERSION}",
            ),
            host_path=str(self.path) if self.ready else "",
        )

    @property
    def ready(self) -> bool:
        return (self.path / ".complete").is_file()

    def ensure(self, progress: ProgressFn | None = None) -> Path:
        """Return the image directory, building it first if needed (about a minute)."""
        if self.ready:
            return self.path
        report = progress or (lambda _what, _step, _of: None)
        self.images_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.images_dir, 0o755)
        with open(self.images_dir / f".hermes-{self.version}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.ready:
                return self.path
            self._build(report)
        return self.path

    def _build(self, report: ProgressFn) -> None:
        python = sandbox_python()
        staging = Path(
            tempfile.mkdtemp(prefix=f".build-hermes-{self.version}-", dir=self.images_dir)
        )
        try:
            report(f"creating a virtualenv with {python}", 1, _STEPS)
            self._run([python, "-m", "venv", str(staging)])
            pip = [str(staging / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
            report(f"installing hermes-agent {self.version} (about a minute)", 2, _STEPS)
            self._run(
                [
                    *pip,
                    "install",
                    "-q",
                    f"hermes-agent=={self.version}",
                    f"aiohttp=={AIOHTTP_VERSION}",
                    f"mcp=={MCP_VERSION}",
                ]
            )
            report("checking the gateway imports", 3, _STEPS)
            self._run(
                [
                    str(staging / "bin" / "python"),
                    "-c",
                    "import aiohttp, hermes_cli.main, gateway.run, mcp.client.streamable_http",
                ]
            )
            report("publishing the image", 4, _STEPS)
            for root, dirs, files in os.walk(staging):
                for name in dirs + files:
                    path = os.path.join(root, name)
                    if not os.path.islink(path):
                        mode = os.stat(path).st_mode
                        os.chmod(path, mode | 0o444 | (0o111 if mode & 0o100 else 0))
            os.chmod(staging, 0o755)
            (staging / ".complete").write_text(self.version)
            if self.path.exists():
                shutil.rmtree(self.path)
            staging.rename(self.path)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    @staticmethod
    def _run(argv: list[str]) -> None:
        try:
            subprocess.run(argv, check=True, capture_output=True, text=True, timeout=900)
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
            raise RuntimeFailure(
                f"building the Hermes image failed: {' '.join(argv[:4])}…: {' | '.join(tail)}"
            ) from exc
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeFailure(f"building the Hermes image failed: {exc}") from exc
