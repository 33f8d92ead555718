"""Starting one session's tree: files in place, groups made, detached launch, wait for health.

Egress relays (``LaunchSpec.egress``) start in the same launch, next to the sandbox: on the host
(so they can reach the upstream), inside the session's cgroups (frozen, killed and billed with
it), as the session's uid, listening on ``egress-<name>.sock`` in its socket directory. Their
config, which holds credentials, travels through a pipe: never on a command line, never on disk;
later turns reconfigure them over their host-side control channel
(:mod:`computerouter.providers.egress.control`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from computerouter.domain.values import EgressRoute, FileSpec, LaunchSpec, Resources
from computerouter.errors import InputError, ProviderError, RuntimeFailure
from computerouter.providers.egress import relay_source
from computerouter.providers.egress.control import control_name
from computerouter.providers.local import merging, seccomp
from computerouter.providers.local.errors import PROVIDER
from computerouter.providers.local.fsutil import rmtree
from computerouter.providers.local.health import wait_healthy
from computerouter.providers.local.host import LocalHost
from computerouter.providers.local.metadata import InstancePaths
from computerouter.providers.local.mounts import SESSION_RUNTIME_DIR, HostFS, plan_mounts
from computerouter.providers.local.sandbox import (
    RelayLaunch,
    SandboxMode,
    SessionCommand,
    SessionView,
    bwrap_args,
    egress_socket_name,
    launcher_argv,
    relay_argv,
    sandbox_argv,
    session_env,
    substitute,
)
from computerouter.providers.local.tree import ProcessTree, read_pidfile

__all__ = ["SessionLaunch", "log_tail", "session_view", "start_session"]

_LOG_TAIL_BYTES = 2000
_ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_PIPE_SAFE_BYTES = 60_000  # a pipe holds 64 KiB: write it whole before anyone reads
_ARGS_FD = 3
_SECCOMP_FD = 9
"""The seccomp program's descriptor for bwrap (the relays' pipes take 4, 5, ...)."""
_MAX_ROUTES = 6  # descriptors 4-9


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionLaunch:
    """What :func:`start_session` needs to know about the instance it starts."""

    paths: InstancePaths
    mode: SandboxMode
    uid: int | None
    """Session uid to switch to; None runs as the caller (unprivileged or unisolated)."""
    resources: Resources
    launch: LaunchSpec
    provider_root: Path
    merge_seed: str = ""
    """Run the runtime under same-page merging with this hash seed ('' : not), see
    :mod:`.merging`."""


def session_view(mode: SandboxMode, paths: InstancePaths) -> SessionView:
    if mode is SandboxMode.NONE:
        return SessionView(
            workspace=str(paths.workspace),
            socket=str(paths.socket),
            runtime_dir=str(paths.runtime_dir),
        )
    return SessionView.isolated()


def log_tail(paths: InstancePaths) -> str:
    """``"; log tail: ..."`` with the end of the session log, for error messages."""
    try:
        with open(paths.log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - _LOG_TAIL_BYTES))
            tail = fh.read().decode(errors="replace").strip()
    except OSError:
        return ""
    return f"; log tail:\n{tail}" if tail else ""


def start_session(spec: SessionLaunch, *, host: LocalHost, fs: HostFS, tree: ProcessTree) -> None:
    """Start the runtime of an instance whose record and workspace exist; wait for health."""
    paths, launch = spec.paths, spec.launch
    relays = _relay_configs(launch.egress, paths.sock_dir, instance_id=paths.instance_id)
    if relays and host.tools.python is None:
        raise ProviderError("egress relays need /usr/bin/python3 on the host", provider=PROVIDER)
    _write_runtime_files(paths, launch.files)
    filtered = spec.mode is not SandboxMode.NONE and bool(seccomp_prefix(host))
    if filtered:
        _write_seccomp(paths)  # exec's applier needs it in every mode
    # bwrap installs the filter itself (no interpreter to start); the unshare mode runs the
    # applier in front of the runtime.
    bpf_fd = _SECCOMP_FD if filtered and spec.mode is SandboxMode.BWRAP else None
    prefix = seccomp_prefix(host) if filtered and bpf_fd is None else ()
    if spec.merge_seed:
        if host.tools.python is None:
            raise ProviderError("merge_pages needs /usr/bin/python3 on the host", provider=PROVIDER)
        prefix = merging.merged(host.tools.python, spec.merge_seed, prefix)
    _fresh_socket_dir(paths, spec.uid)
    with contextlib.suppress(FileNotFoundError):
        paths.pidfile.unlink()
    tree.prepare(spec.resources)

    command = _session_command(spec, fs, prefix=prefix)
    view = session_view(spec.mode, paths)
    # The launcher is /bin/sh, which (dash) can only name descriptors 0-9: the bwrap arguments
    # go to descriptor 3 and relay config pipes to 4, 5, ... in the child.
    bwrap_fd = _ARGS_FD if spec.mode is SandboxMode.BWRAP else None
    if _ARGS_FD + len(relays) >= _SECCOMP_FD:
        raise InputError(f"a session has at most {_SECCOMP_FD - _ARGS_FD - 1} egress routes")
    relay_fds = [_ARGS_FD + 1 + i for i in range(len(relays))]
    with contextlib.ExitStack() as stack:
        bwrap = bwrap_args(command) + (["--seccomp", str(bpf_fd)] if bpf_fd is not None else [])
        args_file = stack.enter_context(_args_file(bwrap if bwrap_fd else None))
        bpf_file = stack.enter_context(
            _memfd("seccomp", seccomp.build_program() if bpf_fd is not None else None)
        )
        pipes = [stack.enter_context(_pipe()) for _ in relays]
        source = relay_source().decode() if relays else ""
        relay_launches = [
            RelayLaunch(
                fd=fd,
                socket_name=name,
                argv=relay_argv(
                    host.tools, uid=spec.uid, source=source, merge_seed=spec.merge_seed
                ),
                log=str(paths.gateway_log) if route.gateway else "",
            )
            for (name, _), fd, route in zip(relays, relay_fds, launch.egress, strict=True)
        ]
        inherited = ([] if bwrap_fd is None else [bwrap_fd]) + relay_fds
        if bpf_fd is not None:
            inherited.append(bpf_fd)
        argv = launcher_argv(
            host.tools,
            join_files=[str(f) for f in tree.join_files()],
            pidfile=str(paths.pidfile),
            sandbox=sandbox_argv(command, host.tools, args_fd=bwrap_fd),
            relays=relay_launches,
            sock_dir=str(paths.sock_dir),
            inherited_fds=inherited,
            cwd=str(paths.workspace if spec.mode is SandboxMode.NONE else paths.dir),
        )
        given = list(zip(relay_fds, (r for r, _ in pipes), strict=True))
        if bwrap_fd is not None and args_file is not None:
            given.append((bwrap_fd, args_file))
        if bpf_fd is not None and bpf_file is not None:
            given.append((bpf_fd, bpf_file))
        with open(paths.log, "ab") as logfile:
            pid = _spawn(
                argv, env=session_env(view, launch.env), log_fd=logfile.fileno(), fds=given
            )
        # setsid -f returns as soon as it has forked the detached leader.
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeFailure(f"{paths.instance_id}: launcher failed{log_tail(paths)}")
        for (_, config), (_, write_fd) in zip(relays, pipes, strict=True):
            with contextlib.suppress(BrokenPipeError):
                os.write(write_fd, config)

    _wait_ready(spec, tree, [name for name, _ in relays])


def _wait_ready(spec: SessionLaunch, tree: ProcessTree, relay_sockets: Sequence[str]) -> None:
    paths, launch = spec.paths, spec.launch
    deadline = time.monotonic() + launch.start_timeout_s

    def alive() -> bool | None:
        if read_pidfile(paths.pidfile) is None:
            return None  # the leader has not joined its groups yet
        return bool(tree.pids())

    if not wait_healthy(
        str(paths.socket), launch.health_path, timeout_s=launch.start_timeout_s, alive=alive
    ):
        state = "exited" if alive() is False else "did not answer in time"
        raise RuntimeFailure(
            f"{paths.instance_id}: runtime {launch.runtime!r} {state} "
            f"(GET {launch.health_path} within {launch.start_timeout_s:g}s){log_tail(paths)}"
        )
    missing = [n for n in relay_sockets if not (paths.sock_dir / n).exists()]
    while missing:
        if time.monotonic() > deadline:
            raise RuntimeFailure(
                f"{paths.instance_id}: egress relay(s) {', '.join(missing)} did not start"
                f"{log_tail(paths)}"
            )
        time.sleep(0.002)
        missing = [n for n in missing if not (paths.sock_dir / n).exists()]


def _session_command(
    spec: SessionLaunch, fs: HostFS, *, prefix: tuple[str, ...] = ()
) -> SessionCommand:
    paths = spec.paths
    view = session_view(spec.mode, paths)
    argv = substitute(spec.launch.argv, view)
    command = SessionCommand(mode=spec.mode, command=(*prefix, *argv), uid=spec.uid)
    if spec.mode is SandboxMode.NONE:
        return command
    mounts = plan_mounts(
        workspace=str(paths.workspace),
        sock_dir=str(paths.sock_dir),
        runtime_dir=str(paths.runtime_dir),
        provider_root=str(spec.provider_root),
        extra=spec.launch.all_mounts,
        fs=fs,
    )
    command = replace(command, mounts=tuple(mounts))
    if spec.mode is SandboxMode.UNSHARE:
        paths.rootfs.mkdir(exist_ok=True, mode=0o755)
        command = replace(command, rootfs=str(paths.rootfs))
    return command


def _relay_configs(
    routes: Sequence[EgressRoute], sock_dir: Path, *, instance_id: str
) -> list[tuple[str, bytes]]:
    """(socket name, config JSON) per route."""
    if len(routes) > _MAX_ROUTES:
        raise InputError(f"at most {_MAX_ROUTES} egress routes per session, not {len(routes)}")
    out: list[tuple[str, bytes]] = []
    for route in routes:
        if not _ROUTE_NAME.match(route.name):
            raise InputError(f"egress route name {route.name!r} must be 1-32 of [A-Za-z0-9_-]")
        socket_name = egress_socket_name(route.name)
        config = json.dumps(
            {
                "upstream": route.upstream,
                "headers": [list(h) for h in route.headers],
                "prefix": route.prefix,
                "metered": route.metered,
                "control": control_name(sock_dir / socket_name),
                # Only root and this control plane's uid may reconfigure the relay.
                "controllers": sorted({0, os.geteuid()}),
                "gateway": route.gateway,
                "per_run": route.per_run,
                "allow": [rule.as_json() for rule in route.allow],
                "labels": {"instance": instance_id, **dict(route.labels)},
            }
        ).encode()
        if len(config) > _PIPE_SAFE_BYTES:
            raise InputError(f"egress route {route.name!r} carries too many header bytes")
        out.append((socket_name, config))
    names = [name for name, _ in out]
    if len(set(names)) != len(names):
        raise InputError(f"egress route names repeat: {sorted(names)}")
    return out


def _fresh_socket_dir(paths: InstancePaths, uid: int | None) -> None:
    rmtree(paths.sock_dir)
    paths.sock_dir.mkdir(parents=True, mode=0o700)
    paths.sock_dir.chmod(0o700)
    if uid is not None:
        os.chown(paths.sock_dir, uid, uid)


def seccomp_prefix(host: LocalHost) -> tuple[str, ...]:
    """What runs a command under the session's seccomp filter, inside the session (empty
    where sessions run without it)."""
    if host.seccomp_gap or host.tools.python is None:
        return ()
    return (host.tools.python, "-I", "-S", f"{SESSION_RUNTIME_DIR}/{seccomp.APPLIER_NAME}", "--")


def _write_seccomp(paths: InstancePaths) -> None:
    for name, content in (
        (seccomp.APPLIER_NAME, seccomp.APPLIER),
        (seccomp.PROGRAM_NAME, seccomp.build_program()),
    ):
        target = paths.runtime_dir / name
        target.write_bytes(content)
        target.chmod(0o444)


def _write_runtime_files(paths: InstancePaths, files: Sequence[FileSpec]) -> None:
    rmtree(paths.runtime_dir)
    paths.runtime_dir.mkdir(mode=0o755)
    paths.runtime_dir.chmod(0o755)
    for spec in files:
        relative = PurePosixPath(spec.name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise InputError(f"runtime file name {spec.name!r} must be a relative path")
        target = paths.runtime_dir.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        target.write_bytes(spec.content)
        # Readable by the session uid; never writable by it, never set-id.
        target.chmod(spec.mode & 0o755 | 0o444)


def _spawn(
    argv: Sequence[str], *, env: dict[str, str], log_fd: int, fds: Sequence[tuple[int, int]]
) -> int:
    """Start ``argv`` with stdin from /dev/null, stdout and stderr to the log, and each
    ``(target, source)`` of ``fds`` as descriptor ``target``; nothing else is inherited."""
    # Move the sources out of the 0-9 range first, so no dup2 overwrites a later source.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in (log_fd, *(s for _, s in fds))]
    try:
        # Python opens its descriptors close-on-exec, but this process may have inherited
        # others from whoever started it; a session must not get them.
        actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = [
            (os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()
        ]
        actions += [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, high[0], 1),
            (os.POSIX_SPAWN_DUP2, high[0], 2),
        ]
        actions += [
            (os.POSIX_SPAWN_DUP2, source, target)
            for (target, _), source in zip(fds, high[1:], strict=True)
        ]
        return os.posix_spawn(argv[0], list(argv), env, file_actions=actions, setsid=True)
    finally:
        for fd in high:
            os.close(fd)


def _inheritable_fds() -> list[int]:
    """Descriptors above stderr that are not close-on-exec."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2:
            continue
        try:
            if not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                found.append(fd)
        except OSError:
            continue  # the descriptor listdir itself used, closed by now
    return found


@contextlib.contextmanager
def _args_file(args: Sequence[str] | None) -> Iterator[int | None]:
    """An anonymous file holding NUL-separated bwrap arguments, for ``bwrap --args FD``."""
    content = None if args is None else b"".join(a.encode() + b"\0" for a in args)
    with _memfd("bwrap-args", content) as fd:
        yield fd


@contextlib.contextmanager
def _memfd(name: str, content: bytes | None) -> Iterator[int | None]:
    """An anonymous file holding ``content``, read from its start (None: no file)."""
    if content is None:
        yield None
        return
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    try:
        os.write(fd, content)
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def _pipe() -> Iterator[tuple[int, int]]:
    read_fd, write_fd = os.pipe()
    try:
        yield read_fd, write_fd
    finally:
        os.close(read_fd)
        os.close(write_fd)
