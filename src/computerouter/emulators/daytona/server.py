"""Running the Daytona emulator: in a background thread (tests, demos) or in the foreground."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from computerouter.emulators.daytona.app import Emulator, create_app
from computerouter.emulators.daytona.settings import EmulatorSettings
from computerouter.emulators.daytona.toolbox import QUIET

__all__ = ["EmulatorServer", "serve"]


def _config(emulator: Emulator, host: str, port: int) -> uvicorn.Config:
    if QUIET not in logging.getLogger("uvicorn.error").filters:
        logging.getLogger("uvicorn.error").addFilter(QUIET)
    return uvicorn.Config(
        create_app(emulator), host=host, port=port, log_level="warning", ws="wsproto"
    )


class EmulatorServer:
    """The emulator on ``127.0.0.1:<free port>`` in a thread; ``api_url`` is what
    ``DaytonaConfig(api_url=...)`` takes. Leaving the block destroys every sandbox."""

    def __init__(self, *, root: Path, settings: EmulatorSettings | None = None) -> None:
        self.emulator = Emulator(settings=settings or EmulatorSettings(), root=root)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.emulator.base_url = self.base_url
        self._server = uvicorn.Server(_config(self.emulator, "127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._server.run, name="daytona-emulator")

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    def start(self) -> EmulatorServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Daytona emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        local = self.emulator.sandboxes.local
        for instance in local.list():
            local.destroy(instance.instance_id)
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(*, root: Path, host: str, port: int, settings: EmulatorSettings) -> None:
    """Run in the foreground until interrupted; every sandbox is destroyed on the way out."""
    emulator = Emulator(settings=settings, root=root)
    emulator.base_url = f"http://{host}:{port}"
    try:
        uvicorn.Server(_config(emulator, host, port)).run()
    finally:
        for instance in emulator.sandboxes.local.list():
            emulator.sandboxes.local.destroy(instance.instance_id)
