"""A provider's emulator started for ``computerouter demo --provider NAME``: no account needed.

The emulator runs in this process, its sandboxes backed by local sessions (so Hermes really
runs inside), with the vendor's published timings sped up :data:`SPEED` times so the demo does
not wait out an archived restore. What it yields is the environment that points the provider
at it, as an operator would set for the real vendor.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from computerouter.config import Settings
from computerouter.errors import InputError
from computerouter.runtimes.hermes.image import HermesImage

__all__ = ["EMULATED", "SPEED", "emulated"]

EMULATED = ("daytona", "fly_sprites")
SPEED = 10.0
_KEY = "demo-emulator-key"


@contextmanager
def emulated(name: str, settings: Settings) -> Iterator[dict[str, str]]:
    """Run ``name``'s emulator for the block; yields the variables that configure it."""
    hermes = HermesImage(images_dir=settings.images_path)
    root = settings.home / "emulators" / f"demo-{name}"
    if name == "daytona":
        with _daytona(hermes, root) as env:
            yield env
    elif name == "fly_sprites":
        with _fly_sprites(hermes, root, settings) as env:
            yield env
    else:
        raise InputError(f"no emulator for provider {name!r} (emulated: {', '.join(EMULATED)})")


@contextmanager
def _daytona(hermes: HermesImage, root: Path) -> Iterator[dict[str, str]]:
    from computerouter.emulators.daytona import EmulatorServer, EmulatorSettings, Timings

    image = hermes.runtime_image()
    server = EmulatorServer(
        root=root,
        settings=EmulatorSettings(
            api_key=_KEY,
            timings=Timings(speed=SPEED),
            images=((image.ref, str(hermes.path), image.target),) if hermes.ready else (),
        ),
    ).start()
    try:
        yield {
            "COMPUTEROUTER_DAYTONA_API_URL": server.api_url,
            "COMPUTEROUTER_DAYTONA_API_KEY": _KEY,
        }
    finally:
        server.stop()


@contextmanager
def _fly_sprites(hermes: HermesImage, root: Path, settings: Settings) -> Iterator[dict[str, str]]:
    from computerouter.emulators.fly_sprites import Timings, World, start

    target = hermes.runtime_image().target
    # A sprite's policy allows a host, but the emulator relays only destinations it knows of
    # ahead: the router's remote gateway gets a fixed port it is told of.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        gateway = f"127.0.0.1:{probe.getsockname()[1]}"
    running = start(
        World(
            root=root,
            token=_KEY,
            timings=Timings(speed=SPEED),
            images=((str(hermes.path), target),) if hermes.ready else (),
            upstreams=(settings.effective_model_base_url, f"http://{gateway}"),
        )
    )
    try:
        yield {
            "COMPUTEROUTER_FLY_SPRITES_BASE_URL": running.url,
            "COMPUTEROUTER_FLY_SPRITES_TOKEN": _KEY,
            "COMPUTEROUTER_GATEWAY_LISTEN": gateway,
        }
    finally:
        running.stop()
