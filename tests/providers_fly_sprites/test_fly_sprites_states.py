"""Sprite status x lifecycle mark -> InstanceState: every status the API documents."""

from __future__ import annotations

import pytest

from computerouter.domain.instances import InstanceState
from computerouter.providers.fly_sprites.states import VENDOR_STATUSES, Mark, instance_state

TABLE = [
    ("running", Mark.LIVE, InstanceState.RUNNING),
    ("warm", Mark.LIVE, InstanceState.RUNNING),
    ("cold", Mark.LIVE, InstanceState.RUNNING),
    ("running", Mark.SUSPENDED, InstanceState.SUSPENDED),
    ("warm", Mark.SUSPENDED, InstanceState.SUSPENDED),
    ("cold", Mark.SUSPENDED, InstanceState.SUSPENDED),
    ("running", Mark.ARCHIVED, InstanceState.ARCHIVED),
    ("warm", Mark.ARCHIVED, InstanceState.ARCHIVED),
    ("cold", Mark.ARCHIVED, InstanceState.ARCHIVED),
    ("running", Mark.CREATING, InstanceState.CREATING),
    ("cold", Mark.CREATING, InstanceState.CREATING),
    ("cold", None, InstanceState.CREATING),
    ("", Mark.LIVE, InstanceState.UNKNOWN),
    ("exploded", Mark.LIVE, InstanceState.UNKNOWN),
    ("exploded", Mark.SUSPENDED, InstanceState.UNKNOWN),
]


@pytest.mark.parametrize(("status", "mark", "expected"), TABLE)
def test_status_and_mark_map_to_one_state(
    status: str, mark: Mark | None, expected: InstanceState
) -> None:
    assert instance_state(status, mark) is expected


def test_the_table_covers_every_documented_status_and_mark() -> None:
    covered = {(s, m) for s, m, _ in TABLE}
    for status in VENDOR_STATUSES:
        for mark in Mark:
            assert (status, mark) in covered or mark is Mark.CREATING
    assert {m for _, m, _ in TABLE} == {*Mark, None}
