"""``LocalProvider``: sessions as isolated process trees on this machine.

Each instance is a runtime started in its own namespaces (bubblewrap, or ``unshare``), as its
own unprivileged host uid, inside its own cgroups, reached over a unix socket in a directory
only it and root can enter. Suspend freezes the cgroup; archive packs the workspace and stops
everything; destroy leaves nothing behind (no process, cgroup, socket, directory or archive).

Every operation on one instance holds that instance's file lock, so a CLI command and a
server on the same root never interleave; ``get``/``list`` only read. The steps themselves live
next door: :mod:`.create`, :mod:`.observe`, :mod:`.teardown` and :mod:`.execute`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from computerouter.domain.egress import EgressMeter, EgressTurn
from computerouter.domain.instances import ExecResult, Instance, InstanceState, InstanceUsage
from computerouter.domain.logs import LogLine
from computerouter.errors import (
    InputError,
    InstanceNotFound,
    IsolationUnavailable,
    LogsArchived,
    ProviderError,
    RuntimeFailure,
)
from computerouter.faults import failpoint
from computerouter.providers.base import Capabilities, InstanceSpec, PooledInstance
from computerouter.providers.egress.control import control_name, meter, push_turn
from computerouter.providers.local.archive import find_archive, pack, unpack
from computerouter.providers.local.create import (
    adopt,
    fresh_workspace,
    make,
    own_workspace,
    start_instance,
)
from computerouter.providers.local.errors import PROVIDER, translate
from computerouter.providers.local.execute import run_in_session
from computerouter.providers.local.export import export_workspace
from computerouter.providers.local.fsutil import rmtree
from computerouter.providers.local.health import RESUME_TIMEOUT_S, health_status, wait_healthy
from computerouter.providers.local.host import LocalHost, probe, swap_configured
from computerouter.providers.local.launch import log_tail
from computerouter.providers.local.layout import Layout
from computerouter.providers.local.locks import HeldLock, file_lock
from computerouter.providers.local.logs import read_logs
from computerouter.providers.local.merging import merge_seed
from computerouter.providers.local.metadata import (
    InstancePaths,
    RecordedState,
    check_instance_id,
    instance_id_for,
    is_instance_id,
    read_record,
    scope_of,
    write_record,
)
from computerouter.providers.local.mounts import HostFS, RealHostFS
from computerouter.providers.local.observe import (
    Footprint,
    footprint,
    observe,
    recorded_instance,
    require_observed,
    require_record,
)
from computerouter.providers.local.pool import bind_claim, park, pooled_instances
from computerouter.providers.local.readiness import check_ready
from computerouter.providers.local.sandbox import SandboxMode, egress_socket_name
from computerouter.providers.local.standby import restore_into
from computerouter.providers.local.teardown import discard_archives, remove_session_files, teardown
from computerouter.providers.local.uids import MACHINE_REGISTRY, UidRange

__all__ = ["Footprint", "LocalProvider"]

log = logging.getLogger(__name__)


class LocalProvider:
    """The ``local`` provider. See the package docstring for the isolation it gives."""

    def __init__(
        self,
        *,
        root: Path,
        uid_base: int = 2_000_000,
        uid_count: int = 100_000,
        allow_unisolated: bool = False,
        uid_registry: Path = MACHINE_REGISTRY,
        host: LocalHost | None = None,
        fs: HostFS | None = None,
        swap_frozen: bool = False,
        merge_pages: bool = False,
    ) -> None:
        if uid_base < 1000 or uid_count < 1 or uid_base + uid_count > 2**32 - 2:
            raise InputError(f"uid range {uid_base}+{uid_count} is not usable for sessions")
        # Resolved: the sandbox hides the root by its real path, and every process using the
        # same root must derive the same cgroup scope and socket directory from it.
        resolved = Path(os.path.realpath(root))
        self._uids = UidRange(base=uid_base, count=uid_count, registry=uid_registry)
        self._allow_unisolated = allow_unisolated
        # Squeeze a frozen session's memory out to the host's swap (see :meth:`suspend`).
        self._swap_frozen = swap_frozen
        host = host if host is not None else probe()
        self._fs: HostFS = fs if fs is not None else RealHostFS()
        self._layout = Layout(
            root=resolved,
            host=host,
            cgroups=host.cgroup_backend(),
            scope=scope_of(resolved),
            merge_seed=merge_seed(resolved) if merge_pages else "",
        )

    # -- what the provider is ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return PROVIDER

    @property
    def host(self) -> LocalHost:
        return self._layout.host

    @property
    def root(self) -> Path:
        return self._layout.root

    @property
    def capabilities(self) -> Capabilities:
        host = self._layout.host
        tools = host.tools
        return Capabilities(
            suspend=True,
            archive=tools.tar is not None and (tools.zstd or tools.gzip) is not None,
            # Unprivileged bwrap nests the session in a second user namespace that does not
            # own its other namespaces, so nsenter cannot join them without root.
            exec=host.sandbox is SandboxMode.NONE
            or (tools.nsenter is not None and not host.userns),
            warm_start_ms=2.0,
        )

    def probe(self, region: str) -> None:
        """The health probe: see :func:`~computerouter.providers.local.readiness.check_ready`."""
        check_ready(
            host=self._layout.host, root=self._layout.root, allow_unisolated=self._allow_unisolated
        )

    # -- reading -----------------------------------------------------------------------------

    def get(self, instance_id: str) -> Instance | None:
        if not check_instance_id(instance_id):
            return None
        with translate("get", instance_id):
            return observe(self._layout, instance_id)

    def list(self) -> Sequence[Instance]:
        with translate("list"):
            ids: set[str] = set()
            instances = self._layout.root / "instances"
            if instances.is_dir():
                ids.update(e.name for e in instances.iterdir() if e.is_dir())
            cgroups = self._layout.cgroups
            if cgroups is not None:
                # Groups with no directory: left by a crash or a hand-deleted directory.
                ids.update(cgroups.children(self._layout.cgroup_parent()))
            found = []
            for instance_id in sorted(ids):
                if is_instance_id(instance_id):
                    instance = observe(self._layout, instance_id)
                    if instance is not None:
                        found.append(instance)
            return found

    def usage(self, instance_id: str) -> InstanceUsage:
        self._known(instance_id)
        with translate("usage", instance_id):
            record = read_record(self._layout.paths(instance_id))
            tree = self._layout.tree(instance_id)
            if record is None and not tree.exists():
                raise InstanceNotFound(provider=PROVIDER, instance_id=instance_id)
            before = record.cpu_seconds_before if record else 0.0
            return InstanceUsage(
                cpu_seconds=before + tree.cpu_seconds(), memory_bytes=tree.memory_bytes()
            )

    # -- egress: each turn's endpoint and budget, over the relays' control channel ----------

    def configure_egress(self, instance_id: str, route: str, turn: EgressTurn) -> None:
        """Point the instance's ``route`` relay at ``turn`` (endpoint, key, model, budget)."""
        self._known(instance_id)
        push_turn(self._control(instance_id, route), turn, provider=PROVIDER)

    def egress_meter(
        self, instance_id: str, route: str, run_id: str, *, end: bool = False
    ) -> EgressMeter:
        """What ``run_id`` spent through the ``route`` relay; ``end``: and forget the run."""
        self._known(instance_id)
        return meter(self._control(instance_id, route), run_id, end=end, provider=PROVIDER)

    def _control(self, instance_id: str, route: str) -> str:
        return control_name(self._layout.paths(instance_id).sock_dir / egress_socket_name(route))

    def footprint(self, instance_id: str) -> Footprint:
        """Everything the instance holds now: processes, cgroups, directories, archive."""
        if not check_instance_id(instance_id):
            return Footprint(pids=(), cgroups=(), paths=())
        with translate("footprint", instance_id):
            return footprint(self._layout, instance_id)

    # -- lifecycle ---------------------------------------------------------------------------

    def create(self, spec: InstanceSpec) -> Instance:
        return self._create(spec, None)

    # -- the warm pool (see :mod:`.pool`) ------------------------------------------------------

    def discard(self, instance_id: str) -> bool:
        """Destroy the instance if it is still pooled (under its lock: never one just claimed)."""
        if not check_instance_id(instance_id):
            return False
        with translate("discard", instance_id), self._lock(instance_id) as held:
            paths = self._layout.paths(instance_id)
            record = read_record(paths)
            if record is not None and not record.pooled:
                return False
            if record is not None:
                write_record(paths, record.with_state(RecordedState.DESTROYING))
            teardown(self._layout, instance_id)
            held.discard()
            return True

    def prepare(self, spec: InstanceSpec) -> Instance:
        """Boot a pooled instance for the session ``spec`` names (no session holds it yet)."""
        return self._create(spec, None, pooled=True)

    def park(self, instance_id: str) -> PooledInstance:
        """Freeze a warmed pooled instance and make it claimable."""
        self._known(instance_id)
        with translate("park", instance_id), self._lock(instance_id):
            return park(self._layout, instance_id)

    def pooled(self) -> Sequence[PooledInstance]:
        with translate("pool"):
            return pooled_instances(self._layout)

    def claim(self, instance_id: str, spec: InstanceSpec) -> Instance | None:
        """The parked instance, bound to ``spec``'s session and thawed; None if it cannot be."""
        if not check_instance_id(instance_id):
            return None
        with translate("claim", instance_id):
            self._require_isolation()
            with self._lock(instance_id):
                return bind_claim(self._layout, instance_id, spec)

    def restore_into(
        self,
        standby_id: str,
        instance_id: str,
        spec: InstanceSpec,
        start: Mapping[str, str],
        egress: Sequence[tuple[str, EgressTurn]] = (),
    ) -> Instance | None:
        """Restore into a parked standby (see :mod:`.standby`); the archive stays."""
        self._known(instance_id)
        if not check_instance_id(standby_id):
            return None
        with translate("restore", instance_id), self._lock(instance_id):
            self._require_isolation()
            with self._lock(standby_id):
                return restore_into(self._layout, standby_id, instance_id, spec, start, egress)

    def create_from_workspace(self, spec: InstanceSpec, source: Path) -> Instance:
        """``create``, the workspace unpacked from the portable copy ``source`` first (a
        retried call adopts the instance the first one made, as ``create`` does)."""
        return self._create(spec, source)

    def export_workspace(self, instance_id: str, dest: Path) -> None:
        """The portable copy of the workspace (see :func:`.export.export_workspace`)."""
        self._known(instance_id)
        with translate("export", instance_id), self._lock(instance_id):
            export_workspace(self._layout, instance_id, dest)

    def _create(self, spec: InstanceSpec, seed: Path | None, *, pooled: bool = False) -> Instance:
        instance_id = instance_id_for(spec.idempotency_key)
        with translate("create", instance_id):
            self._require_isolation()
            with self._lock(instance_id):
                paths = self._layout.paths(instance_id)
                record = read_record(paths)
                if (
                    record is not None
                    or paths.dir.exists()
                    or self._layout.tree(instance_id).exists()
                ):
                    adopted = adopt(self._layout, instance_id, record)
                    if adopted is not None:
                        return adopted
                    teardown(self._layout, instance_id)
                return make(
                    self._layout,
                    instance_id,
                    spec,
                    fs=self._fs,
                    uids=self._uids,
                    seed=seed,
                    pooled=pooled,
                )

    def suspend(self, instance_id: str) -> Instance:
        self._known(instance_id)
        with translate("suspend", instance_id), self._lock(instance_id):
            record = require_record(self._layout, instance_id)
            tree = self._layout.tree(instance_id)
            if not tree.pids():
                raise ProviderError(
                    f"cannot suspend {instance_id}: no process is running", provider=PROVIDER
                )
            if not tree.frozen():
                tree.freeze()
                if self._swap_frozen and swap_configured():
                    # Density: a frozen tree's pages go to (compressed) swap; a resume
                    # faults back what the next turn touches.
                    tree.squeeze()
            # Frozen or not is read from the freezer itself; the record does not repeat it.
            return recorded_instance(self._layout, record, InstanceState.SUSPENDED)

    def resume(self, instance_id: str) -> Instance:
        self._known(instance_id)
        with translate("resume", instance_id), self._lock(instance_id):
            record = require_record(self._layout, instance_id)
            tree = self._layout.tree(instance_id)
            if not tree.pids():
                raise ProviderError(
                    f"cannot resume {instance_id}: no process is running", provider=PROVIDER
                )
            tree.thaw()
            paths = self._layout.paths(instance_id)
            if not wait_healthy(
                str(paths.socket),
                record.health_path,
                timeout_s=RESUME_TIMEOUT_S,
                alive=lambda: bool(tree.pids()),
            ):
                raise RuntimeFailure(
                    f"{instance_id}: runtime did not answer {record.health_path} after thaw"
                    f"{log_tail(paths)}"
                )
            # No record write and no re-observation: this is the hot path (thaw -> first answer).
            return recorded_instance(self._layout, record, InstanceState.RUNNING)

    def archive(self, instance_id: str) -> Instance:
        """Make the instance archived, keeping its newest data; safe to call again after a crash.

        Write-ahead: the workspace is packed (into ``.part``, fsynced, renamed over any older
        archive), then the record says ``archived`` (fsynced), and only then are the processes
        and the workspace removed. Whichever copy the record names is the authoritative one: the
        workspace until the archive is recorded, the archive from then on (and during a restore,
        until the restored instance is recorded running). An interrupted restore is rolled back
        here: its half-made workspace is discarded, the archive it came from is kept.
        """
        self._known(instance_id)
        with translate("archive", instance_id), self._lock(instance_id):
            record = require_record(self._layout, instance_id)
            paths = self._layout.paths(instance_id)
            tree = self._layout.tree(instance_id)
            archive_is_truth = record.state in (RecordedState.ARCHIVED, RecordedState.RESTORING)
            if archive_is_truth and find_archive(paths.archive_stem) is not None:
                pass  # finish an archive that stopped short, or undo a restore that did
            elif not archive_is_truth and paths.workspace.is_dir():
                # Pack a frozen tree (a consistent snapshot), and kill it only once the
                # archive is safe: a failed pack leaves the session as it was.
                thaw_after = bool(tree.pids()) and not tree.frozen()
                if thaw_after:
                    tree.freeze()
                write_record(paths, record.with_state(RecordedState.ARCHIVING))
                try:
                    pack(paths.workspace, paths.archive_stem, self._layout.host.tools)
                except BaseException:
                    with contextlib.suppress(Exception):
                        write_record(paths, record)
                        if thaw_after:
                            tree.thaw()
                    raise
                failpoint("local.archive.packed")
            else:
                raise ProviderError(
                    f"cannot archive {instance_id}: neither its workspace nor an archive is there",
                    provider=PROVIDER,
                )
            # From here on the archive is the authoritative copy.
            counted = record.state is RecordedState.ARCHIVED
            cpu = record.cpu_seconds_before + (0.0 if counted else tree.cpu_seconds())
            archived = replace(record, state=RecordedState.ARCHIVED, cpu_seconds_before=cpu)
            write_record(paths, archived)
            failpoint("local.archive.recorded")
            tree.kill()
            tree.remove()
            remove_session_files(paths)
            rmtree(paths.workspace)
            return require_observed(self._layout, instance_id)

    def restore(self, instance_id: str, spec: InstanceSpec) -> Instance:
        """Start the instance again from its archive; the archive stays until
        :meth:`release_archive` (the caller has recorded the restored instance running)."""
        self._known(instance_id)
        with translate("restore", instance_id):
            self._require_isolation()
            with self._lock(instance_id):
                record = require_record(self._layout, instance_id)
                paths = self._layout.paths(instance_id)
                tree = self._layout.tree(instance_id)
                if record.state not in (RecordedState.ARCHIVED, RecordedState.RESTORING):
                    # The workspace is authoritative: a retried restore that had finished.
                    if tree.pids() and self._answers(paths, record.health_path):
                        return require_observed(self._layout, instance_id)
                    raise ProviderError(
                        f"{instance_id} is not archived (it is {record.state.value})",
                        provider=PROVIDER,
                    )
                if (
                    record.state is RecordedState.RESTORING
                    and tree.pids()
                    and self._answers(paths, record.health_path)
                ):
                    # Retried after the runtime had started but before that was recorded.
                    write_record(paths, record.with_state(RecordedState.RUNNING))
                    return require_observed(self._layout, instance_id)
                archive = find_archive(paths.archive_stem)
                if archive is None:
                    raise ProviderError(
                        f"{instance_id} has no archive to restore", provider=PROVIDER
                    )
                restoring = replace(
                    record,
                    state=RecordedState.RESTORING,
                    resources=spec.resources,
                    runtime=spec.launch.runtime,
                    health_path=spec.launch.health_path,
                    log_files=spec.launch.log_files,
                )
                write_record(paths, restoring)
                failpoint("local.restore.recorded")
                try:
                    # Leftovers of an earlier restore that crashed halfway.
                    tree.kill()
                    tree.remove()
                    rmtree(paths.workspace)
                    fresh_workspace(paths, self._layout.switch_uid(record))
                    unpack(archive, paths.workspace, self._layout.host.tools)
                    failpoint("local.restore.unpacked")
                    own_workspace(paths, self._layout.switch_uid(record))
                    start_instance(self._layout, restoring, spec.launch, fs=self._fs)
                except BaseException:
                    with contextlib.suppress(Exception):
                        tree.kill()
                        tree.remove()
                        remove_session_files(paths)
                        rmtree(paths.workspace)
                        write_record(paths, record.with_state(RecordedState.ARCHIVED))
                    raise
                failpoint("local.restore.started")
                write_record(paths, restoring.with_state(RecordedState.RUNNING))
                return require_observed(self._layout, instance_id)

    def release_archive(self, instance_id: str) -> None:
        """Remove the archive a restore started from, once the workspace is authoritative
        again; never the only copy (an archived or restoring instance keeps it)."""
        if not check_instance_id(instance_id):
            return
        with translate("release archive", instance_id), self._lock(instance_id):
            record = read_record(self._layout.paths(instance_id))
            paths = self._layout.paths(instance_id)
            if record is None or not paths.workspace.is_dir():
                return
            if record.state in (RecordedState.ARCHIVED, RecordedState.RESTORING):
                return
            discard_archives(paths)

    def destroy(self, instance_id: str) -> None:
        if not check_instance_id(instance_id):
            return
        with translate("destroy", instance_id), self._lock(instance_id) as held:
            paths = self._layout.paths(instance_id)
            record = read_record(paths)
            if record is not None:
                write_record(paths, record.with_state(RecordedState.DESTROYING))
            teardown(self._layout, instance_id)
            held.discard()

    def exec(self, instance_id: str, argv: Sequence[str], *, timeout_s: float = 30.0) -> ExecResult:
        self._known(instance_id)
        if not argv or not all(isinstance(a, str) and "\0" not in a for a in argv):
            raise InputError("exec needs a non-empty argv of strings without NUL")
        with translate("exec", instance_id):
            record = require_record(self._layout, instance_id)
            tree = self._layout.tree(instance_id)
            pids = tree.pids()
            if not pids:
                raise ProviderError(
                    f"cannot exec in {instance_id}: no process is running", provider=PROVIDER
                )
            if tree.frozen():
                raise ProviderError(
                    f"cannot exec in {instance_id}: it is suspended", provider=PROVIDER
                )
            mode = SandboxMode(record.sandbox)
            if not self.capabilities.exec:
                raise ProviderError(
                    "exec into local sessions needs root (and nsenter) on this host",
                    provider=PROVIDER,
                )
            return run_in_session(
                self._layout,
                record,
                mode=mode,
                tree=tree,
                pids=pids,
                argv=argv,
                timeout_s=timeout_s,
            )

    def logs(
        self, instance_id: str, *, lines: int = 100, follow: bool = False
    ) -> Iterator[LogLine]:
        """``session.log`` (the whole tree's stdout and stderr), then the runtime's log files
        in the workspace; see :mod:`.logs`. Reads only, without the instance's lock."""
        self._known(instance_id)
        if lines < 0:
            raise InputError(f"lines must be zero or more, not {lines}")
        with translate("logs", instance_id):
            paths = self._layout.paths(instance_id)
            record = read_record(paths)
            if record is None and not paths.dir.exists():
                raise InstanceNotFound(provider=PROVIDER, instance_id=instance_id)
            if record is not None and record.state is RecordedState.ARCHIVED:
                archive = find_archive(paths.archive_stem)
                raise LogsArchived(
                    instance_id=instance_id,
                    location=str(archive or paths.archive_stem) + f" (and {paths.log})",
                )
        return read_logs(self._layout, instance_id, record, lines=lines, follow=follow)

    # -- internals ---------------------------------------------------------------------------

    def _known(self, instance_id: str) -> None:
        if not check_instance_id(instance_id):
            raise InstanceNotFound(provider=PROVIDER, instance_id=instance_id)

    def _lock(self, instance_id: str) -> contextlib.AbstractContextManager[HeldLock]:
        return file_lock(self._layout.paths(instance_id).lock)

    def _answers(self, paths: InstancePaths, health_path: str) -> bool:
        return health_status(str(paths.socket), health_path, timeout_s=2.0) == 200

    def _require_isolation(self) -> None:
        if self._layout.host.isolated:
            if self._layout.cgroups is None:
                log.warning("local sessions run without cgroups: no cpu/memory/pids limits")
            return
        if not self._allow_unisolated:
            raise IsolationUnavailable(
                "this machine cannot isolate sessions (no usable bubblewrap, or unshare as "
                "root); install bubblewrap or set local_allow_unisolated to run them plainly",
                provider=PROVIDER,
            )
        log.warning(
            "UNISOLATED local session: it shares this machine's filesystem view, network "
            "and process namespace (local_allow_unisolated is set)"
        )
