"""Run the Sprites emulator on uvicorn in a background thread (tests, demo, ``emulator`` CLI)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from computerouter.emulators.fly_sprites.app import create_app
from computerouter.emulators.fly_sprites.faults import Faults
from computerouter.emulators.fly_sprites.world import World

__all__ = ["RunningEmulator", "start"]


@dataclass
class RunningEmulator:
    world: World
    faults: Faults
    url: str
    _server: uvicorn.Server
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and destroy every sprite (their backing sessions with them)."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.world.close()


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def start(world: World, *, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
    faults = Faults()
    port = port or _free_port(host)
    config = uvicorn.Config(
        create_app(world, faults), host=host, port=port, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="sprites-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the Sprites emulator did not start on {host}:{port}")
        time.sleep(0.01)
    return RunningEmulator(
        world=world, faults=faults, url=f"http://{host}:{port}", _server=server, _thread=thread
    )
