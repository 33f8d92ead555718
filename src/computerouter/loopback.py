"""An ASGI app served on 127.0.0.1 (a free port) by uvicorn in a thread of this process: the
router's MCP host, the Concierge's operator endpoint, and the API a command serves itself."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from computerouter.errors import RuntimeFailure

__all__ = ["LoopbackServer"]

_START_TIMEOUT_S = 10.0


class LoopbackServer:
    """``start()`` serves ``app`` and returns its base URL; ``stop()`` ends it (both idempotent)."""

    def __init__(self, app: Any, *, name: str, lifespan: str = "auto") -> None:
        self._app = app
        self._name = name
        self._lifespan = lifespan
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._url = ""
        self._guard = threading.Lock()

    def start(self) -> str:
        with self._guard:
            if self._url:
                return self._url
            config = uvicorn.Config(
                self._app,
                host="127.0.0.1",
                port=0,
                log_level="warning",
                access_log=False,
                lifespan=self._lifespan,  # type: ignore[arg-type]
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(target=server.run, name=self._name, daemon=True)
            thread.start()
            deadline = time.monotonic() + _START_TIMEOUT_S
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeFailure(f"the {self._name} did not start on 127.0.0.1")
                time.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            self._server, self._thread = server, thread
            self._url = f"http://127.0.0.1:{port}"
            return self._url

    @property
    def url(self) -> str:
        """The base URL once started ('' before)."""
        return self._url

    def stop(self) -> None:
        with self._guard:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            self._url = ""
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(15)
