"""``emulator fly_sprites`` refuses bad options before it starts anything."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from computerouter.cli.emulator_sprites import fly_sprites
from computerouter.errors import InputError


@pytest.mark.parametrize(
    ("args", "said"), [(["--speed", "0"], "--speed"), (["--port", "0"], "port 0")]
)
def test_bad_options_are_one_clear_refusal(args: list[str], said: str) -> None:
    app = typer.Typer()
    app.command("fly_sprites")(fly_sprites)
    app.command("other")(lambda: None)

    result = CliRunner().invoke(app, ["fly_sprites", *args])

    assert isinstance(result.exception, InputError)
    assert said in str(result.exception)
