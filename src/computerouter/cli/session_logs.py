"""``computerouter compute sessions logs ID``: the runtime's and the session's logs.

The provider reads them (``Provider.logs``, through :func:`~computerouter.compute.session_io.
session_logs`, embedded or on the server); this module only prints. Lines are written as they
are, not through Rich, so nothing in a log is taken for markup.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Annotated

import typer

from computerouter.cli.context import get_context
from computerouter.cli.remote import client_for
from computerouter.client import Client
from computerouter.compute.session_io import session_logs
from computerouter.domain.logs import LogLine
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
    client = client_for(ctx, None)
    found: Iterable[LogLine] = ()
    try:
        if client is None:
            found = session_logs(get_context(ctx).router, session_id, lines=lines, follow=follow)
        else:
            found = _remote(client, session_id, lines=lines, follow=follow)
        for line in found:
            sys.stdout.write(f"{line.source} | {line.text}\n")
            if follow:
                sys.stdout.flush()
        sys.stdout.flush()
    except LogsArchived as exc:
        raise Conflict(
            f"{exc.message} (computerouter compute sessions resume {exc.session_id or session_id})"
        ) from exc
    except KeyboardInterrupt:
        if not follow:
            raise
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python's own flush at
        # exit from failing on the closed pipe too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        if isinstance(found, Iterator) and hasattr(found, "close"):
            found.close()  # a followed stream: its connection or reader ends now


def _remote(client: Client, session_id: str, *, lines: int, follow: bool) -> Iterator[LogLine]:
    sessions = client.compute.sessions
    if follow:
        for line in sessions.follow_logs(session_id, lines=lines):
            yield line.to_line()
    else:
        for line in sessions.logs(session_id, lines=lines):
            yield line.to_line()
