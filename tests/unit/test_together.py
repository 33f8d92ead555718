"""``together``: a turn's independent setup steps run at once, and none stops another."""

from __future__ import annotations

import contextvars
import threading

import pytest

from computerouter.agents.together import together
from computerouter.errors import InputError, RuntimeFailure

RUN = contextvars.ContextVar("run", default="")


def test_the_steps_run_at_the_same_time() -> None:
    meet = threading.Barrier(3, timeout=5)  # broken unless all three wait at once
    seen: list[int] = []

    def step(n: int) -> None:
        meet.wait()
        seen.append(n)

    together(lambda: step(1), lambda: step(2), lambda: step(3))
    assert sorted(seen) == [1, 2, 3]


def test_every_step_runs_and_the_first_error_in_order_is_raised() -> None:
    ran: list[str] = []

    def fails(name: str, exc: Exception) -> None:
        ran.append(name)
        raise exc

    with pytest.raises(InputError, match="first"):
        together(
            lambda: ran.append("ok"),
            lambda: fails("a", InputError("first")),
            lambda: fails("b", RuntimeFailure("second")),
        )
    assert sorted(ran) == ["a", "b", "ok"]

    with pytest.raises(RuntimeFailure, match="last"):  # the one on the caller's thread
        together(lambda: ran.append("ok"), lambda: fails("c", RuntimeFailure("last")))


def test_each_step_sees_the_callers_context() -> None:
    RUN.set("run_1")
    seen: list[str] = []
    together(lambda: seen.append(RUN.get()), lambda: seen.append(RUN.get()))
    assert seen == ["run_1", "run_1"]


def test_no_steps_is_nothing() -> None:
    together()
