"""``computerouter compute sessions logs ID``: the runtime's and the session's logs.

The provider reads them (``Provider.logs``); this module only prints. Lines are written as
they are, not through Rich, so nothing in a log is taken for markup.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from computerouter.cli.context import get_context
from computerouter.domain.states import SessionState
from computerouter.errors import Conflict, InputError, LogsArchived

__all__ = ["logs"]


def logs(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="Session id (ses_...).", show_default=False)],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")
    ] = False,
    lines: Annotated[
        int, typer.Option("--lines", "-n", help="How many of the last lines of each log.")
    ] = 100,
) -> None:
    """Print a session's logs: its processes' output, then each of its runtime's log files."""
    if lines < 0:
        raise InputError(f"--lines must be zero or more, not {lines}")
    router = get_context(ctx).router
    record = router.get(session_id)
    if record.state is SessionState.DESTROYED:
        raise Conflict(f"session {record.id} is destroyed; its logs were removed with it")
    if record.instance_id is None:
        raise Conflict(f"session {record.id} is {record.state.value} and has no instance yet")
    provider = router.provider(record.provider)
    try:
        for line in provider.logs(record.instance_id, lines=lines, follow=follow):
            sys.stdout.write(f"{line.source} | {line.text}\n")
            if follow:
                sys.stdout.flush()
    except LogsArchived as exc:
        raise Conflict(
            f"session {record.id} is archived: its logs are in its archive, {exc.location}; "
            f"they are back here once it resumes (computerouter compute sessions resume "
            f"{record.id})"
        ) from exc
    except KeyboardInterrupt:
        if not follow:
            raise
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python's own flush at
        # exit from failing on the closed pipe too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
