"""``computerouter emulator daytona|fly_sprites``: vendor API emulators, for tests and demos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from computerouter.cli.context import get_context
from computerouter.cli.emulator_sprites import fly_sprites
from computerouter.cli.render import console

__all__ = ["app"]

app = typer.Typer(
    help="Emulators of the providers' vendor APIs (no account needed; sandboxes run locally).",
    no_args_is_help=True,
)


@app.command("daytona")
def daytona(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1.")] = 3986,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    api_key: Annotated[str, typer.Option(help="The API key it accepts.")] = "emulator-key",
    speed: Annotated[
        float, typer.Option(help="Divides every transition time (1: Daytona's figures).")
    ] = 1.0,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where sandboxes live (default: <home>/emulators/daytona).")
    ] = None,
) -> None:
    """Emulate Daytona's API; point DAYTONA_API_URL at the URL it prints."""
    from computerouter.emulators.daytona import EmulatorSettings, Timings, serve
    from computerouter.errors import InputError
    from computerouter.runtimes.hermes.image import HermesImage

    if speed <= 0:
        raise InputError(f"--speed must be positive, not {speed}")
    settings = get_context(ctx).settings
    hermes = HermesImage(images_dir=settings.images_path)
    image = hermes.runtime_image()
    images = ((image.ref, str(hermes.path), image.target),) if hermes.ready else ()
    emulated = EmulatorSettings(api_key=api_key, timings=Timings(speed=speed), images=images)
    root = data_dir or settings.home / "emulators" / "daytona"
    console.print(
        f"Daytona emulator on http://{host}:{port}/api "
        f"(DAYTONA_API_URL=http://{host}:{port}/api DAYTONA_API_KEY={api_key})",
        highlight=False,
    )
    serve(root=root, host=host, port=port, settings=emulated)


app.command("fly_sprites")(fly_sprites)
