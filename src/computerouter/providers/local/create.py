"""Making an instance: record, uid and workspace, then its session; and adopting a retried one.

The record is written (as ``CREATING``, with the uid it claims) before anything else exists,
so a crash at any later point leaves an instance that ``list`` reports and ``destroy`` clears.
:func:`start_instance` and the workspace helpers also serve ``restore``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from pathlib import Path

from computerouter.domain.instances import Instance, InstanceState
from computerouter.domain.values import LaunchSpec
from computerouter.errors import ProviderError
from computerouter.faults import failpoint
from computerouter.providers.base import InstanceSpec, launch_fingerprint
from computerouter.providers.local.archive import unpack_portable
from computerouter.providers.local.errors import PROVIDER
from computerouter.providers.local.health import RESUME_TIMEOUT_S, health_status, wait_healthy
from computerouter.providers.local.launch import SessionLaunch, start_session
from computerouter.providers.local.layout import Layout
from computerouter.providers.local.metadata import (
    InstancePaths,
    InstanceRecord,
    RecordedState,
    write_record,
)
from computerouter.providers.local.mounts import HostFS
from computerouter.providers.local.observe import observe, require_observed
from computerouter.providers.local.sandbox import SandboxMode
from computerouter.providers.local.teardown import teardown
from computerouter.providers.local.uids import UidRange, allocate_uid

__all__ = ["adopt", "fresh_workspace", "make", "own_workspace", "start_instance"]


def make(
    layout: Layout,
    instance_id: str,
    spec: InstanceSpec,
    *,
    fs: HostFS,
    uids: UidRange,
    seed: Path | None = None,
    pooled: bool = False,
) -> Instance:
    """Create the instance from nothing (its workspace from the portable copy ``seed`` when
    given; ``pooled``: for the warm pool); on any failure, leave nothing of it behind."""
    paths = layout.paths(instance_id)
    paths.dir.mkdir(parents=True, exist_ok=True)
    paths.dir.chmod(0o700)
    failpoint("local.create.dir_made")
    record = InstanceRecord(
        instance_id=instance_id,
        idempotency_key=spec.idempotency_key,
        labels=spec.labels,
        uid=-1,
        resources=spec.resources,
        state=RecordedState.CREATING,
        sandbox=layout.host.sandbox.value,
        runtime=spec.launch.runtime,
        health_path=spec.launch.health_path,
        log_files=spec.launch.log_files,
        pooled=pooled,
        fingerprint=launch_fingerprint(spec.launch),
    )

    def commit(uid: int) -> None:
        write_record(paths, replace(record, uid=uid))

    try:
        if layout.dedicated_uids(layout.host.sandbox):
            uid = allocate_uid(layout.root, instance_id, uids=uids, commit=commit)
        else:
            uid = os.getuid()
            commit(uid)
        record = replace(record, uid=uid)
        fresh_workspace(paths, layout.switch_uid(record))
        if seed is not None:
            unpack_portable(seed, paths.workspace, layout.host.tools, uid=layout.switch_uid(record))
            failpoint("local.create.seeded")
        start_instance(layout, record, spec.launch, fs=fs)
        failpoint("local.create.started")
    except BaseException:
        with contextlib.suppress(Exception):
            teardown(layout, instance_id)
        raise
    write_record(paths, record.with_state(RecordedState.RUNNING))
    return require_observed(layout, instance_id)


def start_instance(
    layout: Layout, record: InstanceRecord, launch: LaunchSpec, *, fs: HostFS
) -> None:
    start_session(
        SessionLaunch(
            paths=layout.paths(record.instance_id),
            mode=SandboxMode(record.sandbox),
            uid=layout.switch_uid(record),
            resources=record.resources,
            launch=launch,
            provider_root=layout.root,
            merge_seed=layout.merge_seed,
        ),
        host=layout.host,
        fs=fs,
        tree=layout.tree(record.instance_id),
    )


def fresh_workspace(paths: InstancePaths, uid: int | None) -> None:
    paths.workspace.mkdir(mode=0o700)
    own_workspace(paths, uid)


def own_workspace(paths: InstancePaths, uid: int | None) -> None:
    paths.workspace.chmod(0o700)
    if uid is not None:
        os.chown(paths.workspace, uid, uid)


def adopt(layout: Layout, instance_id: str, record: InstanceRecord | None) -> Instance | None:
    """The instance a retried create should return, or None to rebuild it."""
    if record is None or record.pooled:
        return None  # a pooled instance is claimed, never adopted by a create
    instance = observe(layout, instance_id)
    if instance is None:
        return None
    paths = layout.paths(instance_id)
    if (
        instance.state is InstanceState.RUNNING
        and record.state is RecordedState.RUNNING
        and health_status(str(paths.socket), record.health_path, timeout_s=2.0) == 200
    ):
        return instance
    if instance.state is InstanceState.SUSPENDED:
        tree = layout.tree(instance_id)
        tree.thaw()
        if wait_healthy(str(paths.socket), record.health_path, timeout_s=RESUME_TIMEOUT_S):
            return require_observed(layout, instance_id)
    if instance.state is InstanceState.ARCHIVED:
        raise ProviderError(
            f"{instance_id} is archived: restore it instead of creating it again",
            provider=PROVIDER,
        )
    return None
