"""The warm pool on this machine: instances booted ahead of their session, frozen until claimed.

A pooled instance is an ordinary instance (record, own uid, own workspace, cgroups, socket)
whose record says ``pooled``: it was booted for a session id no session holds yet. Parking it
freezes its tree (no CPU while it waits); claiming it rewrites its record for the session
(labels, idempotency key; write-ahead, under the instance's lock, so two claimers never both
win), then thaws it. Its uid, workspace and processes were never anyone else's: an instance is
claimed once and leaves the pool for good.
"""

from __future__ import annotations

import time
from dataclasses import replace

from computerouter.domain.instances import Instance, InstanceState
from computerouter.errors import ProviderError, RuntimeFailure
from computerouter.providers.base import InstanceSpec, PooledInstance, launch_fingerprint
from computerouter.providers.local.errors import PROVIDER
from computerouter.providers.local.health import RESUME_TIMEOUT_S, wait_healthy
from computerouter.providers.local.launch import log_tail
from computerouter.providers.local.layout import Layout
from computerouter.providers.local.metadata import (
    InstanceRecord,
    RecordedState,
    is_instance_id,
    read_record,
    write_record,
)
from computerouter.providers.local.observe import recorded_instance, require_record

__all__ = ["bind_claim", "park", "pooled_instances"]


def pooled_instances(layout: Layout) -> list[PooledInstance]:
    """Every instance whose record says pooled, ready or not (reads only)."""
    found: list[PooledInstance] = []
    instances = layout.root / "instances"
    if not instances.is_dir():
        return found
    for entry in sorted(instances.iterdir()):
        if not is_instance_id(entry.name):
            continue
        record = read_record(layout.paths(entry.name))
        if record is None or not record.pooled:
            continue
        found.append(_pooled(layout, record))
    return found


def _pooled(layout: Layout, record: InstanceRecord) -> PooledInstance:
    tree = layout.tree(record.instance_id)
    ready = (
        record.parked
        and record.state is RecordedState.RUNNING
        and bool(tree.pids())
        and tree.frozen()
    )
    return PooledInstance(
        instance_id=record.instance_id,
        session_id=record.labels.session_id,
        runtime=record.runtime,
        resources=record.resources,
        fingerprint=record.fingerprint,
        ready=ready,
        created_at=record.created_at,
    )


def park(layout: Layout, instance_id: str) -> PooledInstance:
    """Freeze a pooled instance that has warmed up, and make it claimable (caller holds the
    instance's lock)."""
    record = require_record(layout, instance_id)
    tree = layout.tree(instance_id)
    if not record.pooled or record.state is not RecordedState.RUNNING or not tree.pids():
        raise ProviderError(
            f"cannot park {instance_id}: it is not a booted pooled instance", provider=PROVIDER
        )
    if not tree.frozen():
        tree.freeze()
    parked = replace(record, parked=True)
    write_record(layout.paths(instance_id), parked)
    return _pooled(layout, parked)


def bind_claim(layout: Layout, instance_id: str, spec: InstanceSpec) -> Instance | None:
    """Hand the parked instance to ``spec``'s session, or None if it cannot be (caller holds
    the instance's lock)."""
    paths = layout.paths(instance_id)
    record = read_record(paths)
    if record is None or not record.pooled or not record.parked:
        return None
    if record.state is not RecordedState.RUNNING:
        return None
    if (
        spec.labels.session_id != record.labels.session_id
        or spec.idempotency_key != record.idempotency_key
        or spec.resources != record.resources
        or launch_fingerprint(spec.launch) != record.fingerprint
    ):
        return None
    tree = layout.tree(instance_id)
    if not tree.pids():
        return None
    # The session's from here on: the record says so before the runtime runs again. Its
    # usage and age start at the claim, as a fresh instance's would.
    claimed = replace(
        record,
        labels=spec.labels,
        pooled=False,
        parked=False,
        created_at=time.time(),
        cpu_seconds_before=-tree.cpu_seconds(),
    )
    write_record(paths, claimed)
    tree.thaw()
    if not wait_healthy(
        str(paths.socket),
        record.health_path,
        timeout_s=RESUME_TIMEOUT_S,
        alive=lambda: bool(tree.pids()),
    ):
        raise RuntimeFailure(
            f"{instance_id}: claimed runtime did not answer {record.health_path}{log_tail(paths)}"
        )
    return recorded_instance(layout, claimed, InstanceState.RUNNING)
