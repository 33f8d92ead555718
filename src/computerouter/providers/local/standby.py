"""Restoring an archived session into a standby: a pooled instance whose runtime was started
ahead of any workspace (:class:`~computerouter.runtimes.base.Standby`), so a restore costs an
unpack and the runtime's last start-up steps, not a cold boot.

The standby's record is bound to the session first (write-ahead, under both instances' locks):
from then on it is the session's instance in the making, never the pool's again. Its workspace
is emptied (what the runtime's imports left there), the session's archive unpacked into it as
the standby's own uid, the egress routes its launch could not know pointed, and the runtime
told to go; it answers the session's health path when it has opened the restored workspace.
The archived instance is not touched: its archive stays the authoritative copy until the
caller has recorded the session on the standby, and then destroys it. Any failure destroys the
standby and leaves the archived instance as it was; a crash leaves a standby labelled with a
session that does not name it, which the reconciler destroys.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

from computerouter.domain.egress import EgressTurn
from computerouter.domain.instances import Instance, InstanceState
from computerouter.errors import ProviderError, RuntimeFailure
from computerouter.faults import failpoint
from computerouter.providers.base import InstanceSpec, launch_fingerprint
from computerouter.providers.egress.control import control_name, push_turn
from computerouter.providers.local.archive import find_archive, unpack_as
from computerouter.providers.local.errors import PROVIDER
from computerouter.providers.local.fsutil import rmtree
from computerouter.providers.local.health import RESUME_TIMEOUT_S, wait_healthy
from computerouter.providers.local.launch import log_tail
from computerouter.providers.local.layout import Layout
from computerouter.providers.local.metadata import RecordedState, read_record, write_record
from computerouter.providers.local.observe import recorded_instance, require_record
from computerouter.providers.local.sandbox import egress_socket_name
from computerouter.providers.local.teardown import teardown

__all__ = ["GO_PATH", "restore_into"]

GO_PATH = "/go"
_GO_TIMEOUT_S = 10.0


def restore_into(
    layout: Layout,
    standby_id: str,
    instance_id: str,
    spec: InstanceSpec,
    start: Mapping[str, str],
    egress: Sequence[tuple[str, EgressTurn]] = (),
) -> Instance | None:
    """The archived ``instance_id``'s workspace in the parked standby ``standby_id``, its
    runtime started for ``spec``'s session; None when the standby cannot be used (taken, gone,
    not parked). The caller holds both instances' locks."""
    archived = require_record(layout, instance_id)
    if archived.state is not RecordedState.ARCHIVED:
        return None
    archive = find_archive(layout.paths(instance_id).archive_stem)
    if archive is None:
        raise ProviderError(f"{instance_id} has no archive to restore", provider=PROVIDER)
    paths = layout.paths(standby_id)
    record = read_record(paths)
    tree = layout.tree(standby_id)
    if (
        record is None
        or not record.pooled
        or not record.parked
        or record.state is not RecordedState.RUNNING
        or record.resources != spec.resources
        or not tree.pids()
    ):
        return None
    bound = replace(
        record,
        labels=spec.labels,
        pooled=False,
        parked=False,
        runtime=spec.launch.runtime,
        health_path=spec.launch.health_path,
        log_files=spec.launch.log_files,
        fingerprint=launch_fingerprint(spec.launch),
        created_at=time.time(),
        # The session's usage goes on from where its archived instance left it.
        cpu_seconds_before=archived.cpu_seconds_before - tree.cpu_seconds(),
    )
    write_record(paths, bound)
    try:
        uid = layout.switch_uid(bound)
        # The workspace directory itself is mounted in the sandbox: empty it, keep it.
        for entry in os.listdir(paths.workspace):
            target = paths.workspace / entry
            if target.is_dir() and not target.is_symlink():
                rmtree(target)
            else:
                target.unlink()
        unpack_as(archive, paths.workspace, layout.host.tools, uid=uid)
        failpoint("local.standby.unpacked")
        tree.thaw()
        for route, turn in egress:
            push_turn(
                control_name(paths.sock_dir / egress_socket_name(route)), turn, provider=PROVIDER
            )
        status = _post(str(paths.socket), GO_PATH, json.dumps(dict(start)).encode())
        if status != 202:
            raise RuntimeFailure(f"{standby_id}: standby refused go (HTTP {status})")
        if not wait_healthy(
            str(paths.socket),
            bound.health_path,
            timeout_s=max(RESUME_TIMEOUT_S, spec.launch.start_timeout_s),
            alive=lambda: bool(tree.pids()),
        ):
            raise RuntimeFailure(
                f"{standby_id}: restored runtime did not answer {bound.health_path}"
                f"{log_tail(paths)}"
            )
    except BaseException:
        write_record(paths, bound.with_state(RecordedState.DESTROYING))
        teardown(layout, standby_id)
        raise
    return recorded_instance(layout, bound, InstanceState.RUNNING)


def _post(socket_path: str, http_path: str, body: bytes) -> int | None:
    """HTTP status of ``POST http_path`` with a JSON ``body``, or None when nothing answers."""
    head = (
        f"POST {http_path} HTTP/1.1\r\nHost: session\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    deadline = time.monotonic() + _GO_TIMEOUT_S
    while True:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(_GO_TIMEOUT_S)
            try:
                sock.connect(socket_path)
                sock.sendall(head + body)
                reply = b""
                while b"\r\n" not in reply and len(reply) < 256:
                    chunk = sock.recv(256)
                    if not chunk:
                        break
                    reply += chunk
            except OSError:
                reply = b""
        parts = reply.split(b" ", 2)
        if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
            return int(parts[1])
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)  # the thawed bridge is not accepting yet
