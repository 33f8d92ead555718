"""Metering: who used a session's running time, in whole milliseconds. Pure; no I/O.

A session's *running time* is the time it spent in ``running`` according to its transition log
(``session_transitions``); ``suspended``, ``archived`` and every in-between state are not running
time. Within a window of that time, each millisecond goes to exactly one place:

- to the runs in flight at that moment (busy time), split evenly between them when several
  overlap; the remainder of an uneven split goes one millisecond each to the first runs in
  ``run_id`` order, so the split is deterministic;
- to the sandbox as *idle* time when no run was in flight (the idle tail until suspend).

Timestamps become integer milliseconds once, at the edge (:func:`to_ms`), and from then on
everything is integer arithmetic, so ``sum(busy) + idle == running time`` holds exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from computerouter.domain.states import SessionState

__all__ = ["Attribution", "Interval", "RunSpan", "attribute", "running_intervals", "to_ms"]


def to_ms(at: float) -> int:
    """Seconds since the epoch → whole milliseconds (the one rounding step in metering)."""
    return round(at * 1000)


@dataclass(frozen=True, kw_only=True, slots=True)
class Interval:
    """``[start_ms, end_ms)``; ``end_ms`` is ``None`` while the session is still running."""

    start_ms: int
    end_ms: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSpan:
    """One run on the session: ``[start_ms, end_ms)``; ``end_ms`` is ``None`` while in flight."""

    run_id: str
    start_ms: int
    end_ms: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Attribution:
    busy_ms: Mapping[str, int] = field(default_factory=dict)
    idle_ms: int = 0

    @property
    def running_ms(self) -> int:
        return sum(self.busy_ms.values()) + self.idle_ms


def running_intervals(transitions: Iterable[tuple[SessionState, float]]) -> list[Interval]:
    """The session's running intervals from its transition log, oldest first.

    A timestamp earlier than the one before it (clocks of two control planes disagreeing) is
    read as the one before it, so intervals never overlap or run backwards.
    """
    out: list[Interval] = []
    opened: int | None = None
    last: int | None = None
    for state, at in transitions:
        ms = to_ms(at)
        if last is not None and ms < last:
            ms = last
        last = ms
        if state is SessionState.RUNNING:
            if opened is None:
                opened = ms
        elif opened is not None:
            if ms > opened:
                out.append(Interval(start_ms=opened, end_ms=ms))
            opened = None
    if opened is not None:
        out.append(Interval(start_ms=opened, end_ms=None))
    return out


def attribute(
    *, start_ms: int, end_ms: int, running: Sequence[Interval], runs: Sequence[RunSpan]
) -> Attribution:
    """Split the running time inside ``[start_ms, end_ms)`` between ``runs`` and idle."""
    if end_ms <= start_ms:
        return Attribution()

    def clip(lo: int, hi: int | None) -> tuple[int, int] | None:
        a, b = max(lo, start_ms), min(end_ms if hi is None else hi, end_ms)
        return (a, b) if a < b else None

    spans = [(c, r.run_id) for r in runs if (c := clip(r.start_ms, r.end_ms)) is not None]
    live = [c for i in running if (c := clip(i.start_ms, i.end_ms)) is not None]
    points = sorted(
        {start_ms, end_ms}
        | {t for (a, b), _ in spans for t in (a, b)}
        | {t for a, b in live for t in (a, b)}
    )
    starts = sorted((a, run_id) for (a, _), run_id in spans)
    ends = sorted((b, run_id) for (_, b), run_id in spans)
    busy: dict[str, int] = {}
    idle = 0
    active: set[str] = set()
    si = ei = li = 0
    for p, q in itertools.pairwise(points):
        while si < len(starts) and starts[si][0] <= p:
            active.add(starts[si][1])
            si += 1
        while ei < len(ends) and ends[ei][0] <= p:
            active.discard(ends[ei][1])
            ei += 1
        while li < len(live) and live[li][1] <= p:
            li += 1
        if li >= len(live) or live[li][0] > p:
            continue  # not running: nobody pays
        length = q - p
        if not active:
            idle += length
            continue
        share, extra = divmod(length, len(active))
        for n, run_id in enumerate(sorted(active)):
            busy[run_id] = busy.get(run_id, 0) + share + (1 if n < extra else 0)
    return Attribution(busy_ms=busy, idle_ms=idle)
