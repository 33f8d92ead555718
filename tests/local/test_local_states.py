"""The one pure mapping from local facts to InstanceState."""

from __future__ import annotations

import pytest

from computerouter.domain.instances import InstanceState as S
from computerouter.providers.local.metadata import RecordedState as R
from computerouter.providers.local.states import LocalFacts, instance_state


def facts(
    recorded: R | None,
    *,
    alive: bool = False,
    frozen: bool = False,
    workspace: bool = False,
    archive: bool = False,
) -> LocalFacts:
    return LocalFacts(
        recorded=recorded, alive=alive, frozen=frozen, workspace=workspace, archive=archive
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (facts(None), S.CREATING),  # a stray cgroup or a bare directory
        (facts(None, alive=True), S.CREATING),
        (facts(R.CREATING, alive=True, workspace=True), S.CREATING),
        (facts(R.CREATING, workspace=True), S.CREATING),
        (facts(R.RUNNING, alive=True, workspace=True), S.RUNNING),
        (facts(R.RUNNING, alive=True, frozen=True, workspace=True), S.SUSPENDED),
        (facts(R.RUNNING, workspace=True), S.STOPPED),  # host restarted, tree gone
        (facts(R.ARCHIVING, alive=True, workspace=True), S.RUNNING),  # crashed before kill
        (facts(R.ARCHIVING, workspace=True), S.STOPPED),  # crashed mid-pack: workspace rules
        (facts(R.ARCHIVING, workspace=True, archive=True), S.STOPPED),
        (facts(R.ARCHIVING, archive=True), S.ARCHIVED),  # crashed before the record update
        (facts(R.ARCHIVED, archive=True), S.ARCHIVED),
        (facts(R.ARCHIVED), S.UNKNOWN),  # the archive was lost
        (facts(R.RESTORING, alive=True, workspace=True, archive=True), S.CREATING),
        (facts(R.RESTORING, workspace=True, archive=True), S.ARCHIVED),
        (facts(R.RESTORING), S.UNKNOWN),
        (facts(R.DESTROYING, alive=True), S.UNKNOWN),
        (facts(R.RUNNING), S.UNKNOWN),
    ],
)
def test_instance_state(given: LocalFacts, expected: S) -> None:
    assert instance_state(given) is expected
