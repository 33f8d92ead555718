"""Metering: every running millisecond goes to exactly one run or to idle; nothing else counts."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from computerouter.domain.states import SessionState
from computerouter.ledger.metering import Interval, RunSpan, attribute, running_intervals

S = SessionState
T0 = 1_750_000_000.0


def test_running_intervals_skip_frozen_and_in_between_time() -> None:
    log = [
        (S.PROVISIONING, T0),
        (S.RUNNING, T0 + 2),
        (S.SUSPENDING, T0 + 10),
        (S.SUSPENDED, T0 + 10.5),
        (S.RESUMING, T0 + 100),
        (S.RUNNING, T0 + 100.25),
        (S.ARCHIVING, T0 + 130),
        (S.ARCHIVED, T0 + 131),
        (S.RESUMING, T0 + 200),
        (S.RUNNING, T0 + 201),
    ]
    ms = round(T0 * 1000)
    assert running_intervals(log) == [
        Interval(start_ms=ms + 2000, end_ms=ms + 10_000),
        Interval(start_ms=ms + 100_250, end_ms=ms + 130_000),
        Interval(start_ms=ms + 201_000, end_ms=None),
    ]


def test_a_clock_stepping_back_never_makes_time_negative() -> None:
    log = [(S.RUNNING, T0 + 10), (S.SUSPENDING, T0 + 9), (S.SUSPENDED, T0 + 9)]
    assert running_intervals(log) == []


def test_busy_time_to_runs_idle_time_to_the_sandbox() -> None:
    running = [Interval(start_ms=0, end_ms=10_000), Interval(start_ms=20_000, end_ms=None)]
    runs = [
        RunSpan(run_id="a", start_ms=1_000, end_ms=4_000),
        RunSpan(run_id="b", start_ms=3_000, end_ms=25_000),  # spans a suspension
        RunSpan(run_id="c", start_ms=26_000, end_ms=None),  # in flight
    ]
    split = attribute(start_ms=0, end_ms=30_000, running=running, runs=runs)
    # a: 1000 alone + 1000 shared (500); b: 500 shared + 6000 alone + 5000 after resume.
    assert split.busy_ms == {"a": 2_500, "b": 11_500, "c": 4_000}
    assert split.idle_ms == 1_000 + 1_000  # [0, 1s) and [25s, 26s)
    assert split.running_ms == 20_000


def test_an_uneven_split_gives_the_remainder_in_run_id_order() -> None:
    running = [Interval(start_ms=0, end_ms=None)]
    runs = [RunSpan(run_id=r, start_ms=0, end_ms=None) for r in ("z", "a", "m")]
    split = attribute(start_ms=0, end_ms=10, running=running, runs=runs)
    assert split.busy_ms == {"a": 4, "m": 3, "z": 3}


def test_windows_compose_exactly() -> None:
    running = [Interval(start_ms=0, end_ms=None)]
    runs = [RunSpan(run_id=r, start_ms=0, end_ms=None) for r in ("x", "y", "z")]
    whole = attribute(start_ms=0, end_ms=100, running=running, runs=runs)
    parts = [
        attribute(start_ms=a, end_ms=a + 7, running=running, runs=runs) for a in range(0, 98, 7)
    ]
    parts.append(attribute(start_ms=98, end_ms=100, running=running, runs=runs))
    assert sum(p.running_ms for p in parts) == whole.running_ms == 100


states = st.sampled_from(list(SessionState))


@settings(max_examples=200, deadline=None)  # a loaded CI machine must not make it flaky
@given(
    log=st.lists(st.tuples(states, st.integers(min_value=0, max_value=50)), max_size=15),
    spans=st.lists(
        st.tuples(st.integers(0, 400), st.one_of(st.none(), st.integers(0, 200))), max_size=8
    ),
    cuts=st.lists(st.integers(0, 500), max_size=6),
)
def test_every_running_millisecond_is_attributed_once(
    log: list[tuple[SessionState, int]],
    spans: list[tuple[int, int | None]],
    cuts: list[int],
) -> None:
    at, transitions = 0, []
    for state, gap in log:
        at += gap
        transitions.append((state, at / 1000))
    running = running_intervals(transitions)
    runs = [
        RunSpan(run_id=f"r{i}", start_ms=s, end_ms=None if d is None else s + d)
        for i, (s, d) in enumerate(spans)
    ]
    bounds = sorted({0, 600, *cuts})
    total_busy: dict[str, int] = {}
    idle = 0
    for a, b in itertools.pairwise(bounds):
        part = attribute(start_ms=a, end_ms=b, running=running, runs=runs)
        idle += part.idle_ms
        for run_id, ms in part.busy_ms.items():
            total_busy[run_id] = total_busy.get(run_id, 0) + ms
    # Running time counted the slow way: millisecond by millisecond.
    running_ms = busy_expected = 0
    for t in range(600):
        if any(i.start_ms <= t < (600 if i.end_ms is None else i.end_ms) for i in running):
            running_ms += 1
            if any(r.start_ms <= t < (600 if r.end_ms is None else r.end_ms) for r in runs):
                busy_expected += 1
    assert sum(total_busy.values()) + idle == running_ms
    assert sum(total_busy.values()) == busy_expected
    for r in runs:  # a run is never paid for time outside its own span
        end = 600 if r.end_ms is None else r.end_ms
        assert total_busy.get(r.run_id, 0) <= max(0, end - r.start_ms)
