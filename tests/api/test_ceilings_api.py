"""An agent's run ceiling over REST and the SDK: stored and read back; 0 or negative is a 400
with one clear message, and nothing is created."""

from __future__ import annotations

import pytest

from computerouter.errors import InputError
from computerouter.testing.live_api import Api


def test_an_agents_run_ceiling_is_stored_and_read_back(api: Api) -> None:
    client = api.client(api.alice)
    made = client.agents.create(
        "sb1", slug="bounded", model_settings={"max_run_s": 90}, prompt="Be quick."
    )
    assert made.model_settings.max_run_s == 90.0
    assert client.agents.get("sb1", "bounded").model_settings.max_run_s == 90.0


@pytest.mark.parametrize("value", [0, -1, -0.5])
def test_a_bad_run_ceiling_is_refused_and_creates_nothing(api: Api, value: float) -> None:
    client = api.client(api.alice)
    with pytest.raises(InputError, match="run ceiling"):
        client.agents.create(
            "sb1", slug="bounded", model_settings={"max_run_s": value}, prompt="Be quick."
        )
    assert client.agents.list() == []
