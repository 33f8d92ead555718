"""The ``computerouter`` command line (Typer + Rich).

Every error the product raises on purpose, and every usage error (an unknown option, a missing
argument, a value of the wrong type), ends as one red line on stderr and a non-zero exit code;
tracebacks are for bugs only.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from computerouter.cli.app import app
from computerouter.cli.render import err_console
from computerouter.cli.terminal import markup_safe
from computerouter.errors import (
    CapReached,
    ComputeRouterError,
    ConfigError,
    Conflict,
    InputError,
    NotFound,
    Paused,
)

__all__ = ["EXIT_CODES", "app", "exit_code_for", "main", "run_cli"]

EXIT_CODES = frozenset({0, 1, 2, 3, 4, 5, 130})
"""Every code the command line exits with: 0 done, 1 failed, 2 bad input or settings, 3 not
found, 4 conflicts with the current state, 5 refused by a gate (a pause or a per-user cap),
130 interrupted."""


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


def _error(message: str) -> None:
    one_line = re.sub(r"\s*\n\s*", " ", message.strip())
    err_console.print(
        f"[bold red]error:[/] {markup_safe(one_line)}", highlight=False, soft_wrap=True
    )


def run_cli(args: Sequence[str] | None = None) -> int:
    """Run one command (``args``, or the process's own) and return its exit code; every
    failure is one line on stderr."""
    argv = list(sys.argv[1:] if args is None else args)
    for position, arg in enumerate(argv, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:  # the OS handed over bytes that are not UTF-8
            _error(f"argument {position} is not valid UTF-8 text")
            return 2
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="computerouter", standalone_mode=False)
    except ComputeRouterError as exc:
        _error(str(exc))
        return exit_code_for(exc)
    except NoArgsIsHelpError as exc:
        err_console.print(exc.format_message(), highlight=False, markup=False)
        return 2
    except UsageError as exc:
        where = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        _error(exc.format_message() + where)
        return 2
    except typer.TyperException as exc:
        _error(exc.format_message())
        return exc.exit_code
    except typer.Abort:
        _error("aborted")
        return 1
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        return 130
    return code if isinstance(code, int) else 0


def main() -> None:
    sys.exit(run_cli())
