"""Instance specs for tests of providers: the echo runtime, small resources, fresh keys."""

from __future__ import annotations

import uuid

from computerouter.domain.values import Labels, LaunchSpec, Resources
from computerouter.providers.base import InstanceSpec
from computerouter.runtimes.echo import EchoRuntime

__all__ = ["echo_spec"]


def echo_spec(
    key: str | None = None, launch: LaunchSpec | None = None, resources: Resources | None = None
) -> InstanceSpec:
    """A create of the echo runtime (or ``launch``) under a new session key unless given."""
    key = key or f"ses_{uuid.uuid4().hex[:16]}"
    return InstanceSpec(
        idempotency_key=key,
        labels=Labels(session_id=key, user_id="u", sandbox_id="s"),
        resources=resources or Resources(cpus=1.0, memory_mb=256, pids=64),
        launch=launch or EchoRuntime().launch_spec(session_id=key),
    )
