"""The model endpoint behind agent runtimes, and the bundled stand-in for the offline default.

With no ``model_base_url`` configured, runs use the bundled model stand-in (a scripted test
model, not a real one) on ``127.0.0.1:standin_port``, started here as a small background
process when nothing answers there yet, so it outlives the command that started it, as the
sessions that call it do.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from computerouter.config import Settings
from computerouter.errors import RuntimeFailure

__all__ = ["ensure_standin"]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def ensure_standin(settings: Settings, *, timeout_s: float = 10.0) -> bool:
    """Start the stand-in if the settings use it and it is not running. True if started."""
    if not settings.uses_standin_model or _listening(settings.standin_port):
        return False
    settings.home.mkdir(parents=True, exist_ok=True)
    log = (settings.home / "standin.log").open("ab")
    subprocess.Popen(
        [sys.executable, "-m", "computerouter.standin", "--port", str(settings.standin_port)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _listening(settings.standin_port):
            return True
        time.sleep(0.05)
    raise RuntimeFailure(
        f"the model stand-in did not start on 127.0.0.1:{settings.standin_port}; "
        f"see {settings.home / 'standin.log'}"
    )
