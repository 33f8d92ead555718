"""``computerouter emulator fly_sprites``: the Sprites API emulated, for tests and demos.

A function for the ``emulator`` Typer app (``app.command("fly_sprites")(fly_sprites)``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from computerouter.cli.context import get_context
from computerouter.cli.render import console

__all__ = ["fly_sprites"]


def fly_sprites(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 3987,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    token: Annotated[str, typer.Option(help="The API token it accepts.")] = "emulator-token",
    speed: Annotated[
        float, typer.Option(help="Divides every wake and idle time (1: the vendor's figures).")
    ] = 1.0,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where sprites live (default: <home>/emulators/fly_sprites)."),
    ] = None,
) -> None:
    """Emulate the Fly.io Sprites API; set providers.fly_sprites.base_url to the URL it prints."""
    from computerouter.emulators.fly_sprites import Timings, World, start
    from computerouter.errors import InputError
    from computerouter.runtimes.hermes.image import HermesImage

    if speed <= 0:
        raise InputError(f"--speed must be positive, not {speed}")
    if not 0 < port < 65536:
        raise InputError(f"port {port} is not a valid TCP port")
    settings = get_context(ctx).settings
    root = data_dir or settings.home / "emulators" / "fly_sprites"
    hermes = HermesImage(images_dir=settings.images_path)
    # Every sprite has the built Hermes venv, as a base image would, and may reach the
    # configured model endpoint once its network policy allows it.
    images = ((str(hermes.path), hermes.runtime_image().target),) if hermes.ready else ()
    world = World(
        root=root,
        token=token,
        timings=Timings(speed=speed),
        images=images,
        upstreams=(settings.effective_model_base_url, *_gateway(settings.gateway_listen)),
    )
    running = start(world, host=host, port=port)
    console.print(
        f"Sprites emulator on {running.url} (COMPUTEROUTER_FLY_SPRITES_BASE_URL={running.url} "
        f"SPRITES_TOKEN={token})",
        highlight=False,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


def _gateway(listen: str) -> tuple[str, ...]:
    """The router's remote gateway, when its port is fixed (a sprite can reach only what the
    emulator knows of ahead)."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or int(port) == 0:
        return ()
    return (f"http://{host}:{port}",)
