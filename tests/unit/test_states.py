from __future__ import annotations

from pathlib import Path

import pytest

from computerouter.domain import states as states_module
from computerouter.domain.states import (
    LIVE_STATES,
    TRANSITIONS,
    SessionState,
    can_transition,
    require_transition,
)
from computerouter.errors import InvalidTransition

S = SessionState


def test_every_state_has_a_row_and_a_docstring() -> None:
    assert set(TRANSITIONS) == set(SessionState)
    source = Path(states_module.__file__).read_text()
    for state in SessionState:
        # each member is followed by its own docstring line
        assert f'{state.name} = "{state.value}"\n    """' in source


def test_destroyed_is_terminal_and_unreachable_except_by_destroy() -> None:
    assert TRANSITIONS[S.DESTROYED] == frozenset()
    sources = {s for s, targets in TRANSITIONS.items() if S.DESTROYED in targets}
    assert sources == {S.DESTROYING, S.FAILED}


def test_live_states_exclude_destroyed_and_failed() -> None:
    assert S.DESTROYED not in LIVE_STATES
    assert S.FAILED not in LIVE_STATES
    assert S.ARCHIVED in LIVE_STATES


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.PROVISIONING, S.RUNNING),
        (S.RUNNING, S.SUSPENDING),
        (S.SUSPENDING, S.SUSPENDED),
        (S.SUSPENDED, S.RESUMING),
        (S.RESUMING, S.RUNNING),
        (S.SUSPENDED, S.ARCHIVING),
        (S.ARCHIVING, S.ARCHIVED),
        (S.ARCHIVED, S.RESUMING),
        (S.RUNNING, S.DESTROYING),
        (S.DESTROYING, S.DESTROYED),
    ],
)
def test_lifecycle_path_is_legal(current: SessionState, target: SessionState) -> None:
    assert can_transition(current, target)


def test_resume_of_destroyed_is_refused_with_the_states_named() -> None:
    with pytest.raises(InvalidTransition) as info:
        require_transition(S.DESTROYED, S.RESUMING, session_id="ses_x")
    assert info.value.current == "destroyed"
    assert info.value.target == "resuming"
    assert "ses_x" in str(info.value)


def test_every_transitional_state_can_fail_or_be_destroyed() -> None:
    for state in (S.PROVISIONING, S.SUSPENDING, S.ARCHIVING, S.RESUMING):
        assert S.FAILED in TRANSITIONS[state]
        assert S.DESTROYING in TRANSITIONS[state]
