"""``LocalProvider``: sessions as isolated process trees on this machine.

Each instance is a runtime started in its own namespaces (bubblewrap, or ``unshare``), as its
own unprivileged host uid, inside its own cgroups, reached over a unix socket in a directory
only it and root can enter. Suspend freezes the cgroup; archive packs the workspace and stops
everything; destroy leaves nothing behind (no process, cgroup, socket, directory or archive).

Every operation on one instance holds that instance's file lock, so a CLI command and a
server on the same root never interleave; ``get``/``list`` only read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from computerouter.domain.instances import ExecResult, Instance, InstanceState, InstanceUsage
from computerouter.domain.values import Endpoint, Labels, LaunchSpec
from computerouter.errors import (
    InputError,
    InstanceNotFound,
    IsolationUnavailable,
    ProviderError,
    RuntimeFailure,
)
from computerouter.providers.base import Capabilities, InstanceSpec
from computerouter.providers.local.archive import find_archive, pack, unpack
from computerouter.providers.local.errors import PROVIDER, translate
from computerouter.providers.local.fsutil import rmtree
from computerouter.providers.local.health import health_status, wait_healthy
from computerouter.providers.local.host import LocalHost, probe
from computerouter.providers.local.launch import (
    SessionLaunch,
    log_tail,
    session_view,
    start_session,
)
from computerouter.providers.local.locks import HeldLock, file_lock
from computerouter.providers.local.metadata import (
    InstancePaths,
    InstanceRecord,
    RecordedState,
    check_instance_id,
    instance_id_for,
    is_instance_id,
    read_record,
    scope_of,
    write_record,
)
from computerouter.providers.local.mounts import HostFS, RealHostFS
from computerouter.providers.local.sandbox import (
    SandboxMode,
    exec_argv,
    session_env,
)
from computerouter.providers.local.states import LocalFacts, instance_state
from computerouter.providers.local.tree import (
    CgroupTree,
    ProcessGroupTree,
    ProcessTree,
)
from computerouter.providers.local.uids import allocate_uid

__all__ = ["Footprint", "LocalProvider"]

log = logging.getLogger(__name__)

RESUME_TIMEOUT_S = 10.0
_LOG_TAIL_BYTES = 2000
_UNKNOWN_LABELS = Labels(session_id="", user_id="", sandbox_id="")


@dataclass(frozen=True, kw_only=True, slots=True)
class Footprint:
    """What one instance currently holds on this machine (operators' view; tests use it)."""

    pids: tuple[int, ...]
    cgroups: tuple[Path, ...]
    paths: tuple[Path, ...]
    """Instance directory, socket directory and archive, where they exist."""

    @property
    def empty(self) -> bool:
        return not (self.pids or self.cgroups or self.paths)


class LocalProvider:
    """The ``local`` provider. See the package docstring for the isolation it gives."""

    def __init__(
        self,
        *,
        root: Path,
        uid_base: int = 2_000_000,
        uid_count: int = 100_000,
        allow_unisolated: bool = False,
        host: LocalHost | None = None,
        fs: HostFS | None = None,
    ) -> None:
        if uid_base < 1000 or uid_count < 1 or uid_base + uid_count > 2**32 - 2:
            raise InputError(f"uid range {uid_base}+{uid_count} is not usable for sessions")
        # Resolved: the sandbox hides the root by its real path, and every process using the
        # same root must derive the same cgroup scope and socket directory from it.
        self._root = Path(os.path.realpath(root))
        self._uid_base = uid_base
        self._uid_count = uid_count
        self._allow_unisolated = allow_unisolated
        self._host = host if host is not None else probe()
        self._fs: HostFS = fs if fs is not None else RealHostFS()
        self._cgroups = self._host.cgroup_backend()
        self._scope = scope_of(self._root)

    # -- what the provider is ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return PROVIDER

    @property
    def host(self) -> LocalHost:
        return self._host

    @property
    def root(self) -> Path:
        return self._root

    @property
    def capabilities(self) -> Capabilities:
        tools = self._host.tools
        return Capabilities(
            suspend=True,
            archive=tools.tar is not None and (tools.zstd or tools.gzip) is not None,
            # Unprivileged bwrap nests the session in a second user namespace that does not
            # own its other namespaces, so nsenter cannot join them without root.
            exec=self._host.sandbox is SandboxMode.NONE
            or (tools.nsenter is not None and not self._host.userns),
            warm_start_ms=2.0,
        )

    # -- reading -----------------------------------------------------------------------------

    def get(self, instance_id: str) -> Instance | None:
        if not check_instance_id(instance_id):
            return None
        with translate("get", instance_id):
            return self._observe(instance_id)

    def list(self) -> Sequence[Instance]:
        with translate("list"):
            ids: set[str] = set()
            instances = self._root / "instances"
            if instances.is_dir():
                ids.update(e.name for e in instances.iterdir() if e.is_dir())
            if self._cgroups is not None:
                # Groups with no directory: left by a crash or a hand-deleted directory.
                ids.update(self._cgroups.children(self._cgroup_parent()))
            found = []
            for instance_id in sorted(ids):
                if is_instance_id(instance_id):
                    instance = self._observe(instance_id)
                    if instance is not None:
                        found.append(instance)
            return found

    def usage(self, instance_id: str) -> InstanceUsage:
        self._known(instance_id)
        with translate("usage", instance_id):
            record = read_record(self._paths(instance_id))
            tree = self._tree(instance_id)
            if record is None and not tree.exists():
                raise InstanceNotFound(provider=PROVIDER, instance_id=instance_id)
            before = record.cpu_seconds_before if record else 0.0
            return InstanceUsage(
                cpu_seconds=before + tree.cpu_seconds(), memory_bytes=tree.memory_bytes()
            )

    def footprint(self, instance_id: str) -> Footprint:
        """Everything the instance holds now: processes, cgroups, directories, archive."""
        if not check_instance_id(instance_id):
            return Footprint(pids=(), cgroups=(), paths=())
        with translate("footprint", instance_id):
            paths = self._paths(instance_id)
            cgroups: tuple[Path, ...] = ()
            if self._cgroups is not None:
                name = self._cgroup_name(instance_id)
                cgroups = tuple(d for d in self._cgroups.dirs(name) if d.is_dir())
            archive = find_archive(paths.archive_stem)
            candidates = [paths.dir, paths.sock_dir, *([archive] if archive else [])]
            return Footprint(
                pids=tuple(self._tree(instance_id).pids()),
                cgroups=cgroups,
                paths=tuple(p for p in candidates if os.path.lexists(p)),
            )

    # -- lifecycle ---------------------------------------------------------------------------

    def create(self, spec: InstanceSpec) -> Instance:
        instance_id = instance_id_for(spec.idempotency_key)
        with translate("create", instance_id):
            self._require_isolation()
            with self._lock(instance_id):
                paths = self._paths(instance_id)
                record = read_record(paths)
                if record is not None or paths.dir.exists() or self._tree(instance_id).exists():
                    adopted = self._adopt(instance_id, record)
                    if adopted is not None:
                        return adopted
                    self._teardown(instance_id)
                return self._make(instance_id, spec)

    def suspend(self, instance_id: str) -> Instance:
        self._known(instance_id)
        with translate("suspend", instance_id), self._lock(instance_id):
            record = self._require_record(instance_id)
            tree = self._tree(instance_id)
            if not tree.pids():
                raise ProviderError(
                    f"cannot suspend {instance_id}: no process is running", provider=PROVIDER
                )
            if not tree.frozen():
                tree.freeze()
            # Frozen or not is read from the freezer itself; the record does not repeat it.
            return self._instance(record, InstanceState.SUSPENDED)

    def resume(self, instance_id: str) -> Instance:
        self._known(instance_id)
        with translate("resume", instance_id), self._lock(instance_id):
            record = self._require_record(instance_id)
            tree = self._tree(instance_id)
            if not tree.pids():
                raise ProviderError(
                    f"cannot resume {instance_id}: no process is running", provider=PROVIDER
                )
            tree.thaw()
            paths = self._paths(instance_id)
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
            return self._instance(record, InstanceState.RUNNING)

    def archive(self, instance_id: str) -> Instance:
        self._known(instance_id)
        with translate("archive", instance_id), self._lock(instance_id):
            record = self._require_record(instance_id)
            paths = self._paths(instance_id)
            tree = self._tree(instance_id)
            if record.state is RecordedState.ARCHIVED and find_archive(paths.archive_stem):
                return self._require_observed(instance_id)
            if paths.workspace.is_dir():
                # Pack a frozen tree (a consistent snapshot), and kill it only once the
                # archive is safe: a failed pack leaves the session as it was.
                thaw_after = bool(tree.pids()) and not tree.frozen()
                if thaw_after:
                    tree.freeze()
                write_record(paths, record.with_state(RecordedState.ARCHIVING))
                try:
                    pack(paths.workspace, paths.archive_stem, self._host.tools)
                except BaseException:
                    with contextlib.suppress(Exception):
                        write_record(paths, record)
                        if thaw_after:
                            tree.thaw()
                    raise
            elif find_archive(paths.archive_stem) is None:
                raise ProviderError(
                    f"cannot archive {instance_id}: its workspace is gone", provider=PROVIDER
                )
            tree.kill()
            cpu = record.cpu_seconds_before + tree.cpu_seconds()
            tree.remove()
            self._remove_session_files(paths)
            rmtree(paths.workspace)
            archived = replace(record, state=RecordedState.ARCHIVED, cpu_seconds_before=cpu)
            write_record(paths, archived)
            return self._require_observed(instance_id)

    def restore(self, instance_id: str, spec: InstanceSpec) -> Instance:
        self._known(instance_id)
        with translate("restore", instance_id):
            self._require_isolation()
            with self._lock(instance_id):
                record = self._require_record(instance_id)
                paths = self._paths(instance_id)
                tree = self._tree(instance_id)
                archive = find_archive(paths.archive_stem)
                if archive is None:
                    if record.state in (RecordedState.RUNNING, RecordedState.RESTORING) and (
                        tree.pids()
                        and health_status(str(paths.socket), record.health_path, timeout_s=2.0)
                        == 200
                    ):
                        # A retried restore whose first attempt got this far.
                        write_record(paths, record.with_state(RecordedState.RUNNING))
                        return self._require_observed(instance_id)
                    raise ProviderError(
                        f"{instance_id} has no archive to restore", provider=PROVIDER
                    )
                restoring = replace(
                    record,
                    state=RecordedState.RESTORING,
                    resources=spec.resources,
                    runtime=spec.launch.runtime,
                    health_path=spec.launch.health_path,
                )
                write_record(paths, restoring)
                try:
                    # Leftovers of an earlier restore that crashed halfway.
                    tree.kill()
                    tree.remove()
                    rmtree(paths.workspace)
                    self._fresh_workspace(paths, self._switch_uid(record))
                    unpack(archive, paths.workspace, self._host.tools)
                    self._own_workspace(paths, self._switch_uid(record))
                    self._start(restoring, spec.launch)
                except BaseException:
                    with contextlib.suppress(Exception):
                        tree.kill()
                        tree.remove()
                        self._remove_session_files(paths)
                        rmtree(paths.workspace)
                        write_record(paths, record.with_state(RecordedState.ARCHIVED))
                    raise
                archive.unlink()
                write_record(paths, restoring.with_state(RecordedState.RUNNING))
                return self._require_observed(instance_id)

    def destroy(self, instance_id: str) -> None:
        if not check_instance_id(instance_id):
            return
        with translate("destroy", instance_id), self._lock(instance_id) as held:
            paths = self._paths(instance_id)
            record = read_record(paths)
            if record is not None:
                write_record(paths, record.with_state(RecordedState.DESTROYING))
            self._teardown(instance_id)
            held.discard()

    def exec(self, instance_id: str, argv: Sequence[str], *, timeout_s: float = 30.0) -> ExecResult:
        self._known(instance_id)
        if not argv or not all(isinstance(a, str) and "\0" not in a for a in argv):
            raise InputError("exec needs a non-empty argv of strings without NUL")
        with translate("exec", instance_id):
            record = self._require_record(instance_id)
            tree = self._tree(instance_id)
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
            paths = self._paths(instance_id)
            view = session_view(mode, paths)
            command = exec_argv(
                self._host.tools,
                mode=mode,
                target_pid=_pid_inside(pids) if mode is not SandboxMode.NONE else None,
                uid=self._switch_uid(record),
                userns=self._host.userns,
                join_files=[str(f) for f in tree.join_files()],
                argv=argv,
            )
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=session_env(view, ()),
                cwd=paths.workspace if mode is SandboxMode.NONE else "/",
                start_new_session=True,
            )
            try:
                out, err = proc.communicate(timeout=timeout_s)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
                out, err = proc.communicate()
                code = 124
                err += f"\n[computerouter: timed out after {timeout_s:g}s]".encode()
            return ExecResult(
                exit_code=code,
                stdout=out.decode(errors="replace"),
                stderr=err.decode(errors="replace"),
            )

    # -- internals: making -------------------------------------------------------------------

    def _make(self, instance_id: str, spec: InstanceSpec) -> Instance:
        paths = self._paths(instance_id)
        paths.dir.mkdir(parents=True, exist_ok=True)
        paths.dir.chmod(0o700)
        record = InstanceRecord(
            instance_id=instance_id,
            idempotency_key=spec.idempotency_key,
            labels=spec.labels,
            uid=-1,
            resources=spec.resources,
            state=RecordedState.CREATING,
            sandbox=self._host.sandbox.value,
            runtime=spec.launch.runtime,
            health_path=spec.launch.health_path,
        )

        def commit(uid: int) -> None:
            write_record(paths, replace(record, uid=uid))

        try:
            if self._dedicated_uids(self._host.sandbox):
                uid = allocate_uid(
                    self._root, base=self._uid_base, count=self._uid_count, commit=commit
                )
            else:
                uid = os.getuid()
                commit(uid)
            record = replace(record, uid=uid)
            self._fresh_workspace(paths, self._switch_uid(record))
            self._start(record, spec.launch)
        except BaseException:
            with contextlib.suppress(Exception):
                self._teardown(instance_id)
            raise
        write_record(paths, record.with_state(RecordedState.RUNNING))
        return self._require_observed(instance_id)

    def _start(self, record: InstanceRecord, launch: LaunchSpec) -> None:
        start_session(
            SessionLaunch(
                paths=self._paths(record.instance_id),
                mode=SandboxMode(record.sandbox),
                uid=self._switch_uid(record),
                resources=record.resources,
                launch=launch,
                provider_root=self._root,
            ),
            host=self._host,
            fs=self._fs,
            tree=self._tree(record.instance_id),
        )

    def _fresh_workspace(self, paths: InstancePaths, uid: int | None) -> None:
        paths.workspace.mkdir(mode=0o700)
        self._own_workspace(paths, uid)

    def _own_workspace(self, paths: InstancePaths, uid: int | None) -> None:
        paths.workspace.chmod(0o700)
        if uid is not None:
            os.chown(paths.workspace, uid, uid)

    # -- internals: observing ----------------------------------------------------------------

    def _observe(self, instance_id: str) -> Instance | None:
        paths = self._paths(instance_id)
        record = read_record(paths)
        tree = self._tree(instance_id)
        has_dir = paths.dir.is_dir()
        if record is None and not has_dir and not tree.exists():
            return None
        alive = bool(tree.pids())
        facts = LocalFacts(
            recorded=record.state if record else None,
            alive=alive,
            frozen=alive and tree.frozen(),
            workspace=paths.workspace.is_dir(),
            archive=find_archive(paths.archive_stem) is not None,
        )
        state = instance_state(facts)
        serving = state in (InstanceState.RUNNING, InstanceState.SUSPENDED, InstanceState.CREATING)
        return Instance(
            instance_id=instance_id,
            provider=PROVIDER,
            state=state,
            labels=record.labels if record else _UNKNOWN_LABELS,
            endpoint=Endpoint(kind="unix", address=str(paths.socket)) if serving else None,
        )

    def _instance(self, record: InstanceRecord, state: InstanceState) -> Instance:
        socket = self._paths(record.instance_id).socket
        return Instance(
            instance_id=record.instance_id,
            provider=PROVIDER,
            state=state,
            labels=record.labels,
            endpoint=Endpoint(kind="unix", address=str(socket)),
        )

    def _require_observed(self, instance_id: str) -> Instance:
        instance = self._observe(instance_id)
        if instance is None:
            raise InstanceNotFound(provider=PROVIDER, instance_id=instance_id)
        return instance

    def _require_record(self, instance_id: str) -> InstanceRecord:
        record = read_record(self._paths(instance_id))
        if record is None:
            raise InstanceNotFound(provider=PROVIDER, instance_id=instance_id)
        return record

    def _adopt(self, instance_id: str, record: InstanceRecord | None) -> Instance | None:
        """The instance a retried create should return, or None to rebuild it."""
        if record is None:
            return None
        instance = self._observe(instance_id)
        if instance is None:
            return None
        paths = self._paths(instance_id)
        if (
            instance.state is InstanceState.RUNNING
            and record.state is RecordedState.RUNNING
            and health_status(str(paths.socket), record.health_path, timeout_s=2.0) == 200
        ):
            return instance
        if instance.state is InstanceState.SUSPENDED:
            tree = self._tree(instance_id)
            tree.thaw()
            if wait_healthy(str(paths.socket), record.health_path, timeout_s=RESUME_TIMEOUT_S):
                return self._require_observed(instance_id)
        if instance.state is InstanceState.ARCHIVED:
            raise ProviderError(
                f"{instance_id} is archived: restore it instead of creating it again",
                provider=PROVIDER,
            )
        return None

    # -- internals: tearing down -------------------------------------------------------------

    def _teardown(self, instance_id: str) -> None:
        """Remove everything of an instance but its lock; fine if some or all is gone."""
        paths = self._paths(instance_id)
        tree = self._tree(instance_id)
        tree.kill()
        tree.remove()
        self._remove_session_files(paths)
        archive = find_archive(paths.archive_stem)
        while archive is not None:
            archive.unlink()
            archive = find_archive(paths.archive_stem)
        for leftover in paths.archive_stem.parent.glob(f"{instance_id}.tar.*.part"):
            leftover.unlink()
        rmtree(paths.dir)

    def _remove_session_files(self, paths: InstancePaths) -> None:
        rmtree(paths.sock_dir)
        with contextlib.suppress(OSError):
            # The per-root socket base outside the root: leave no empty one behind.
            if paths.sockets != self._root / "s":
                paths.sockets.rmdir()
        rmtree(paths.runtime_dir)
        rmtree(paths.rootfs)
        with contextlib.suppress(FileNotFoundError):
            paths.pidfile.unlink()

    # -- internals: small helpers ------------------------------------------------------------

    def _paths(self, instance_id: str) -> InstancePaths:
        return InstancePaths.of(self._root, instance_id)

    def _cgroup_parent(self) -> str:
        return f"computerouter/{self._scope}"

    def _cgroup_name(self, instance_id: str) -> str:
        return f"{self._cgroup_parent()}/{instance_id}"

    def _tree(self, instance_id: str) -> ProcessTree:
        if self._cgroups is not None:
            return CgroupTree(self._cgroups, self._cgroup_name(instance_id))
        return ProcessGroupTree(self._paths(instance_id).pidfile)

    def _dedicated_uids(self, mode: SandboxMode) -> bool:
        # Unisolated sessions run plainly as the operator: a dedicated uid could not even
        # reach host paths under a private home.
        return self._host.is_root and mode is not SandboxMode.NONE

    def _switch_uid(self, record: InstanceRecord) -> int | None:
        return record.uid if self._dedicated_uids(SandboxMode(record.sandbox)) else None

    def _known(self, instance_id: str) -> None:
        if not check_instance_id(instance_id):
            raise InstanceNotFound(provider=PROVIDER, instance_id=instance_id)

    def _lock(self, instance_id: str) -> contextlib.AbstractContextManager[HeldLock]:
        return file_lock(self._paths(instance_id).lock)

    def _require_isolation(self) -> None:
        if self._host.isolated:
            if self._cgroups is None:
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


def _pid_inside(pids: Sequence[int]) -> int:
    """A pid of the sandbox proper: in its mount *and* pid namespaces (not the bwrap parent,
    nor an nsenter that has joined the mount namespace but not the pid namespace)."""
    own = (os.readlink("/proc/self/ns/mnt"), os.readlink("/proc/self/ns/pid"))
    for pid in pids:
        try:
            theirs = (os.readlink(f"/proc/{pid}/ns/mnt"), os.readlink(f"/proc/{pid}/ns/pid"))
        except OSError:
            continue
        if theirs[0] != own[0] and theirs[1] != own[1]:
            return pid
    raise ProviderError("no process of the session is inside its namespaces", provider=PROVIDER)
