"""Max-runtime ceilings: how long one run may run, and how long a session may stay up.

Two ceilings keep time (and so money) from accumulating unseen:

- ``max_run_s``: a run is stopped when it has run this long (``run.failed``, code ``ceiling``)
  and is billed up to the ceiling, never beyond. The agent's own value wins, then its
  sandbox's, then the default setting.
- ``max_uptime_s``: a session running this long since it last started or resumed is
  suspended by the lifecycle pass, even with runs in flight (they are cancelled first). The
  sandbox's value wins, then the default setting.

Pure: values and the rules that pick and check them.
"""

from __future__ import annotations

import math

from computerouter.domain.limits import DURATION_MAX_S
from computerouter.domain.session import SessionRecord
from computerouter.domain.states import SessionState
from computerouter.errors import InputError

__all__ = ["check_ceiling", "effective", "past_uptime", "uptime"]


def check_ceiling(value: object, *, what: str, typed: str | None = None) -> float:
    """``value`` as a ceiling in seconds: a finite number more than zero (at most
    :data:`~computerouter.domain.limits.DURATION_MAX_S`), or one line naming ``what`` (and the
    value as ``typed``, when it was parsed from that)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputError(f"{what} must be a number of seconds more than 0, not {value!r}")
    try:
        seconds = float(value)
    except ValueError:
        raise InputError(f"{what} must be a number of seconds more than 0, not {value!r}") from None
    if not math.isfinite(seconds) or seconds <= 0 or seconds > DURATION_MAX_S:
        raise InputError(
            f"{what} must be more than 0 s and at most {DURATION_MAX_S / 86400:g} days, "
            f"not {typed if typed is not None else value!r}"
        )
    return seconds


def effective(*choices: float | None, default: float) -> float:
    """The first ceiling that is set (most specific first), else ``default``."""
    for choice in choices:
        if choice is not None:
            return choice
    return default


def uptime(session: SessionRecord, now: float) -> float:
    """How long a running session has been up since it last started or resumed (0 when it
    is not running)."""
    if session.state is not SessionState.RUNNING:
        return 0.0
    return max(0.0, now - session.state_changed_at)


def past_uptime(session: SessionRecord, *, now: float, max_uptime_s: float) -> bool:
    """Whether a running session has reached its maximum uptime."""
    return session.state is SessionState.RUNNING and uptime(session, now) >= max_uptime_s
