"""Fixtures for isolation tests: a local provider (once per sandbox kind) and sessions in it."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from isolation_support import InsideRunner, SessionFactory

from computerouter.domain.instances import Instance
from computerouter.domain.values import Labels, Resources
from computerouter.providers.base import InstanceSpec
from computerouter.providers.local import LocalProvider, probe
from computerouter.runtimes.echo import EchoRuntime
from computerouter.runtimes.echo.runtime import sandbox_python


@pytest.fixture(params=["bwrap", "unshare"])
def local(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalProvider]:
    host = probe()
    if host.gaps():
        pytest.skip(f"isolation tests need root, bubblewrap and cgroups: {', '.join(host.gaps())}")
    if request.param == "unshare":
        if not host.unshare_works:
            pytest.skip("unshare cannot make namespaces here")
        host = dataclasses.replace(host, bwrap_works=False)
    provider = LocalProvider(root=tmp_path / "local", host=host)
    assert provider.host.sandbox.value == request.param
    try:
        yield provider
    finally:
        for instance in provider.list():
            provider.destroy(instance.instance_id)


@pytest.fixture
def session(local: LocalProvider) -> SessionFactory:
    def make(resources: Resources | None = None) -> Instance:
        session_id = f"ses_{uuid.uuid4().hex[:20]}"
        return local.create(
            InstanceSpec(
                idempotency_key=session_id,
                labels=Labels(session_id=session_id, user_id="u", sandbox_id="s"),
                resources=resources or Resources(cpus=1.0, memory_mb=256, pids=64),
                launch=EchoRuntime().launch_spec(session_id=session_id),
            )
        )

    return make


@pytest.fixture
def inside(local: LocalProvider) -> InsideRunner:
    """Run Python code inside a session; it prints one JSON value, which is returned."""

    def run(instance: Instance, code: str) -> Any:
        result = local.exec(
            instance.instance_id, [sandbox_python(), "-I", "-S", "-c", code], timeout_s=20
        )
        assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr}"
        return json.loads(result.stdout)

    return run
