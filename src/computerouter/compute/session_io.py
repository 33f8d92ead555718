"""What an operator reads from a session and runs in it: its logs, and one command.

The embedded CLI and the API call these same functions, so a session that cannot answer is
refused with the same error, and the same words, whichever way it was asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from computerouter.compute.router import ComputeRouter
from computerouter.domain.instances import ExecResult
from computerouter.domain.logs import LogLine
from computerouter.domain.states import SessionState
from computerouter.errors import Conflict, InputError, LogsArchived

__all__ = ["EXEC_ARGV_MAX_BYTES", "session_exec", "session_logs"]

EXEC_ARGV_MAX_BYTES = 128 * 1024
"""The most a command line handed to ``exec`` may hold, all its arguments together."""


def session_logs(
    router: ComputeRouter, session_id: str, *, lines: int, follow: bool
) -> Iterator[LogLine]:
    """The last ``lines`` lines of each of the session's logs, then (``follow``) new lines as
    they come, until the caller stops or the instance is gone.

    Refusals are raised here, before the first line: an unknown session
    (:class:`SessionNotFound`), a destroyed one or one with no instance yet (:class:`Conflict`),
    an archived one (:class:`LogsArchived`, saying where its logs are)."""
    if lines < 0:
        raise InputError(f"lines must be zero or more, not {lines}")
    record = router.get(session_id)
    if record.state is SessionState.DESTROYED:
        raise Conflict(f"session {record.id} is destroyed; its logs were removed with it")
    if record.instance_id is None:
        raise Conflict(f"session {record.id} is {record.state.value} and has no instance yet")
    provider = router.provider(record.provider)
    try:
        return provider.logs(record.instance_id, lines=lines, follow=follow)
    except LogsArchived as exc:
        raise LogsArchived(
            instance_id=exc.instance_id, location=exc.location, session_id=record.id
        ) from exc


def session_exec(
    router: ComputeRouter, session_id: str, argv: Sequence[str], *, timeout_s: float
) -> ExecResult:
    """Run ``argv`` inside the session's running instance (killed after ``timeout_s``)."""
    if not argv:
        raise InputError("give the command to run, e.g. exec ID -- id -u")
    if any("\x00" in arg for arg in argv):
        raise InputError("a command's arguments cannot hold a NUL character")
    if sum(len(arg.encode("utf-8", errors="replace")) + 1 for arg in argv) > EXEC_ARGV_MAX_BYTES:
        raise InputError(f"the command line is longer than {EXEC_ARGV_MAX_BYTES // 1024} KiB")
    record = router.get(session_id)
    if record.instance_id is None or record.state is not SessionState.RUNNING:
        raise Conflict(f"session {session_id} is {record.state.value}; exec needs it running")
    return router.provider(record.provider).exec(
        record.instance_id, list(argv), timeout_s=timeout_s
    )
