"""Switching a session's runtime: a run that needs another runtime than its session runs.

A session started for one runtime (a pre-warm that named ``echo``, say) may later receive a
run whose agent needs another one (``hermes``). Talking to the wrong runtime would fail with
an opaque HTTP error, so ``ensure_session`` switches the session first, keeping its workspace:
it archives the session (the runtime stops, the workspace is packed), records the new runtime
on the archived row, and the usual restore then starts the new runtime on the unpacked
workspace. Only operations every archiving provider already offers are used, and each step is
a settled state, so a crash between them leaves an archived session that the next run restores
with the runtime it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from computerouter.domain.session import SessionRecord
from computerouter.domain.states import SessionState
from computerouter.errors import Conflict, InvalidTransition, StaleState

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter

__all__ = ["SWITCHABLE_STATES", "switch_runtime"]

S = SessionState

SWITCHABLE_STATES = frozenset({S.RUNNING, S.SUSPENDED, S.ARCHIVED})
"""Settled states a session can switch runtime from (others are waited out first)."""


def switch_runtime(router: ComputeRouter, record: SessionRecord, runtime: str) -> None:
    """Leave ``record``'s session archived with ``runtime`` recorded, ready to be restored.

    Raises :class:`StaleState` when the session moved meanwhile (the caller looks again) and
    :class:`Conflict` when the switch cannot happen now: a run is in flight on the session,
    or its provider cannot archive.
    """
    assert record.state in SWITCHABLE_STATES
    needs = (
        f"session {record.id} runs the {record.runtime!r} runtime but this caller needs {runtime!r}"
    )
    if record.state is not S.ARCHIVED:
        provider = router.provider(record.provider)
        if not provider.capabilities.archive:
            raise Conflict(
                f"{needs}, and provider {provider.name!r} cannot restart it with another "
                f"runtime; destroy it (computerouter compute sessions destroy {record.id}) "
                "and try again"
            )
        busy = router.store.runs.in_flight(record.id)
        if busy:
            raise Conflict(
                f"{needs}, and run {busy[0].run_id} is in flight on it; try again when it ends"
            )
        try:
            router.archive(record.id, reason=f"switch runtime {record.runtime} -> {runtime}")
        except InvalidTransition as exc:
            raise StaleState(session_id=record.id, expected=record.state.value) from exc
        except StaleState:
            raise
        except Conflict as exc:
            raise Conflict(f"{needs}: {exc}") from exc
    router.store.sessions.set_runtime(
        record.id, expected=S.ARCHIVED, runtime=runtime, now=router.clock.now()
    )
