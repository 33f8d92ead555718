from __future__ import annotations

from dataclasses import replace

import pytest

from computerouter.domain.lifecycle import LifecycleAction, LifecyclePolicy, decide
from computerouter.domain.session import SessionRecord
from computerouter.domain.states import SessionState
from computerouter.testing import session_record

MIN = 60.0
DAY = 86400.0
T0 = 1_000_000.0


def record(state: SessionState, last_active_at: float = T0) -> SessionRecord:
    return session_record(at=T0, id="ses_1", state=state, last_active_at=last_active_at)


POLICY = LifecyclePolicy()


@pytest.mark.parametrize(
    ("state", "idle", "expected"),
    [
        (SessionState.RUNNING, 14 * MIN, LifecycleAction.NONE),
        (SessionState.RUNNING, 15 * MIN, LifecycleAction.SUSPEND),
        (SessionState.SUSPENDED, 6 * DAY, LifecycleAction.NONE),
        (SessionState.SUSPENDED, 7 * DAY, LifecycleAction.ARCHIVE),
        (SessionState.RUNNING, 7 * DAY, LifecycleAction.ARCHIVE),
        (SessionState.ARCHIVED, 30 * DAY, LifecycleAction.NONE),
        (SessionState.PROVISIONING, 30 * DAY, LifecycleAction.NONE),
    ],
)
def test_default_windows(state: SessionState, idle: float, expected: LifecycleAction) -> None:
    assert decide(record(state), now=T0 + idle, policy=POLICY, runs_in_flight=0) is expected


def test_run_in_flight_blocks_everything() -> None:
    assert (
        decide(record(SessionState.RUNNING), now=T0 + 30 * DAY, policy=POLICY, runs_in_flight=1)
        is LifecycleAction.NONE
    )


def test_provider_without_suspend_goes_straight_to_archive() -> None:
    action = decide(
        record(SessionState.RUNNING),
        now=T0 + 20 * MIN,
        policy=POLICY,
        runs_in_flight=0,
        can_suspend=False,
    )
    assert action is LifecycleAction.ARCHIVE


def test_custom_policy() -> None:
    policy = replace(POLICY, idle_suspend_s=30.0)
    assert decide(record(SessionState.RUNNING), now=T0 + 31, policy=policy, runs_in_flight=0) is (
        LifecycleAction.SUSPEND
    )
