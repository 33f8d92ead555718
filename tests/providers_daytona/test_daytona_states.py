"""Every Daytona ``SandboxState`` maps to one neutral state, by a table a reader can check."""

from __future__ import annotations

import pytest
from daytona import SandboxState

from computerouter.domain.instances import InstanceState
from computerouter.providers.daytona.states import GONE, instance_state

C, R, S, A, U = (
    InstanceState.CREATING,
    InstanceState.RUNNING,
    InstanceState.SUSPENDED,
    InstanceState.ARCHIVED,
    InstanceState.UNKNOWN,
)

EXPECTED: dict[str, InstanceState | None] = {
    "creating": C,
    "pending_build": C,
    "building_snapshot": C,
    "pulling_snapshot": C,
    "starting": C,
    "restoring": C,
    "resuming": C,
    "started": R,
    "resizing": R,
    "snapshotting": R,
    "forking": R,
    "stopping": S,
    "stopped": S,
    "pausing": S,
    "paused": S,
    "archiving": S,
    "archived": A,
    "error": U,
    "build_failed": U,
    "unknown": U,
    "unknown_default_open_api": U,
    "destroying": None,
    "destroyed": None,
}


def test_the_table_names_every_state_of_the_installed_sdk() -> None:
    assert {s.value for s in SandboxState} == set(EXPECTED)
    assert len(EXPECTED) >= 19


@pytest.mark.parametrize("state", list(SandboxState), ids=lambda s: s.value)
def test_each_sdk_state_maps_as_the_table_says(state: SandboxState) -> None:
    assert instance_state(state) == EXPECTED[state.value]
    assert instance_state(state.value) == EXPECTED[state.value]


def test_gone_states_are_the_ones_mapped_to_none() -> None:
    assert {k for k, v in EXPECTED.items() if v is None} == GONE


def test_a_state_a_later_sdk_adds_is_unknown_not_an_error() -> None:
    assert instance_state("hibernating") is InstanceState.UNKNOWN
    assert instance_state(None) is InstanceState.UNKNOWN
