"""Fixtures of the provider contract suite: ``provider`` runs every test once per registered
provider (``provider_harness.HARNESSES``), in a temporary root, and destroys what is left."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from provider_harness import HARNESSES, ProviderHarness, SpecFactory

from computerouter.domain.values import Labels, Resources
from computerouter.providers.base import InstanceSpec, Provider
from computerouter.runtimes.echo import EchoRuntime

# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest) -> ProviderHarness:
    chosen = HARNESSES[request.param]
    reason = chosen.unavailable()
    if reason:
        pytest.skip(reason)
    return chosen


@pytest.fixture
def provider(harness: ProviderHarness, tmp_path: Path) -> Iterator[Provider]:
    made = harness.make(tmp_path)
    assert isinstance(made, Provider)
    try:
        yield made
    finally:
        # Destroy whatever the test left, even when it failed halfway.
        try:
            for instance in made.list():
                made.destroy(instance.instance_id)
        finally:
            harness.close(made)


@pytest.fixture
def make_spec() -> SpecFactory:
    runtime = EchoRuntime()

    def make(key: str | None = None, **labels: str) -> InstanceSpec:
        session_id = key or f"ses_{uuid.uuid4().hex[:20]}"
        return InstanceSpec(
            idempotency_key=session_id,
            labels=Labels(
                session_id=session_id,
                user_id=labels.get("user_id", "user-1"),
                sandbox_id=labels.get("sandbox_id", "sandbox-1"),
                agent_id=labels.get("agent_id", ""),
                run_id=labels.get("run_id", ""),
            ),
            resources=Resources(cpus=1.0, memory_mb=512, pids=128),
            launch=runtime.launch_spec(session_id=session_id),
        )

    return make
