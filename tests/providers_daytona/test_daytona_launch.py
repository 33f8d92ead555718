"""How a runtime is placed in a Daytona sandbox: egress, the launch script."""

from __future__ import annotations

import pytest

from computerouter.domain.values import EgressRoute, LaunchSpec
from computerouter.errors import ProviderError
from computerouter.providers.daytona.launch import RUNTIME_DIR, launch_script, plan


def test_each_egress_route_is_an_address_and_an_allow_list_entry() -> None:
    launch = LaunchSpec(
        runtime="x",
        argv=("run",),
        egress=(
            EgressRoute(name="model", upstream="http://127.0.0.1:9000/v1"),
            EgressRoute(name="tools", upstream="https://127.0.0.1"),
        ),
    )
    placed = plan(launch)
    assert placed.egress_env == {
        "COMPUTEROUTER_EGRESS_MODEL": "127.0.0.1:9000",
        "COMPUTEROUTER_EGRESS_TOOLS": "127.0.0.1:443",
    }
    assert placed.allow == ("127.0.0.1/32",)


def test_a_route_that_adds_credentials_is_refused_and_not_retried() -> None:
    launch = LaunchSpec(
        runtime="x",
        argv=("run",),
        egress=(
            EgressRoute(
                name="model", upstream="http://127.0.0.1:9000", headers=(("Authorization", "k"),)
            ),
        ),
    )
    with pytest.raises(ProviderError, match="credentials") as caught:
        plan(launch)
    assert not caught.value.retryable


def test_the_launch_script_sets_the_placement_and_fills_the_argv() -> None:
    launch = LaunchSpec(
        runtime="x", argv=("python3", "{runtime_dir}/server.py", "{workspace}"), port=9090
    )
    script = launch_script(launch, {"COMPUTEROUTER_EGRESS_MODEL": "127.0.0.1:1"})
    assert "COMPUTEROUTER_PORT=9090" in script
    assert "COMPUTEROUTER_EGRESS_MODEL=127.0.0.1:1" in script
    assert f"{RUNTIME_DIR}/server.py /workspace" in script
