"""The ``computerouter`` command line (Typer + Rich).

Every error the product raises on purpose ends as one red line on stderr and a non-zero exit
code; tracebacks are for bugs only.
"""

from __future__ import annotations

import sys

from computerouter.cli.app import app
from computerouter.cli.render import err_console
from computerouter.errors import (
    CapReached,
    ComputeRouterError,
    ConfigError,
    Conflict,
    InputError,
    NotFound,
    Paused,
)

__all__ = ["app", "exit_code_for", "main"]


def exit_code_for(exc: ComputeRouterError) -> int:
    """2: bad input or settings; 3: not found; 4: conflict with the current state; 5: refused
    by a gate (a pause or a per-user cap); 1: other."""
    if isinstance(exc, InputError | ConfigError):
        return 2
    if isinstance(exc, NotFound):
        return 3
    if isinstance(exc, Conflict):
        return 4
    if isinstance(exc, Paused | CapReached):
        return 5
    return 1


def main() -> None:
    try:
        app()
    except ComputeRouterError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
