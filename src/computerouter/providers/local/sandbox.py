"""Command lines that start a session's tree and run commands inside it (pure; no I/O).

Launch, for every sandbox mode: ``setsid -f sh -c SCRIPT``. ``setsid -f`` forks and returns at
once, so the tree is reparented to init and outlives the control-plane process that made it
(no ``--die-with-parent``: sessions must survive a short CLI command). The detached shell
writes its pid into every cgroup and the pidfile, starts the session's egress relays, then
execs the sandbox, so nothing in the tree runs outside its groups.

Sandbox argv per mode:

- ``bwrap`` (root): new pid, net, ipc, uts and cgroup namespaces, the planned mounts, then
  ``setpriv`` to the session's own uid with no capabilities and ``no_new_privs``. Not root:
  ``--unshare-user`` as well, and the session keeps the operator's uid (bwrap drops caps).
  The arguments travel through a file descriptor (``--args``), so ``/proc/1/cmdline`` inside
  the session does not show host paths.
- ``unshare`` (root, no bwrap): the same namespaces; a shell script builds the same view under
  an empty mount point, then ``chroot`` + ``setpriv``.
- ``none`` (only with ``allow_unisolated``): the command as is, still under ``setpriv`` when
  root, with host paths.
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from computerouter.providers.local.merging import merged
from computerouter.providers.local.mounts import (
    SESSION_RUNTIME_DIR,
    SESSION_SOCKET_DIR,
    SESSION_WORKSPACE,
    Mount,
    render_bwrap,
    render_shell,
)

__all__ = [
    "JOIN_SCRIPT",
    "SANDBOX_PATH",
    "RelayLaunch",
    "SandboxMode",
    "SessionCommand",
    "SessionView",
    "Tools",
    "bwrap_args",
    "drop_privileges",
    "egress_socket_name",
    "exec_argv",
    "launcher_argv",
    "relay_argv",
    "sandbox_argv",
    "session_env",
    "substitute",
]

SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"

JOIN_SCRIPT = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
"""Write our pid into each file up to ``--`` (cgroup.procs files, a pidfile), then exec."""


class SandboxMode(enum.StrEnum):
    BWRAP = "bwrap"
    UNSHARE = "unshare"
    NONE = "none"


@dataclass(frozen=True, kw_only=True, slots=True)
class Tools:
    """Absolute paths of the host programs used (None: not installed)."""

    sh: str = "/bin/sh"
    setsid: str | None = None
    setpriv: str | None = None
    bwrap: str | None = None
    unshare: str | None = None
    nsenter: str | None = None
    chroot: str | None = None
    mount: str | None = None
    env: str = "/usr/bin/env"
    tar: str | None = None
    zstd: str | None = None
    gzip: str | None = None
    python: str | None = None
    """A system interpreter any uid can run (not a shim under a private home): egress relays."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionView:
    """Where the session finds its workspace, socket and runtime files."""

    workspace: str
    socket: str
    runtime_dir: str

    @classmethod
    def isolated(cls) -> SessionView:
        return cls(
            workspace=SESSION_WORKSPACE,
            socket=f"{SESSION_SOCKET_DIR}/runtime.sock",
            runtime_dir=SESSION_RUNTIME_DIR,
        )


def substitute(argv: Sequence[str], view: SessionView) -> tuple[str, ...]:
    """Fill ``{runtime_dir}`` and ``{workspace}``; other braces are left alone."""
    return tuple(
        a.replace("{runtime_dir}", view.runtime_dir).replace("{workspace}", view.workspace)
        for a in argv
    )


def session_env(view: SessionView, extra: Sequence[tuple[str, str]]) -> dict[str, str]:
    env = {
        "PATH": SANDBOX_PATH,
        "HOME": view.workspace,
        "LANG": "C.UTF-8",
        "COMPUTEROUTER_SOCKET": view.socket,
        "COMPUTEROUTER_WORKSPACE": view.workspace,
        "COMPUTEROUTER_RUNTIME_DIR": view.runtime_dir,
    }
    for key, value in extra:
        if not key.startswith("COMPUTEROUTER_"):
            env[key] = value
    return env


def drop_privileges(tools: Tools, uid: int | None) -> list[str]:
    """``setpriv`` to ``uid`` with no capabilities; nothing when not switching uid."""
    if uid is None or tools.setpriv is None:
        return []
    return [
        tools.setpriv,
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionCommand:
    """Everything needed to start one session's runtime."""

    mode: SandboxMode
    command: tuple[str, ...]
    """The runtime's argv, already substituted."""
    uid: int | None
    """Host uid to switch to; None keeps the caller's (unprivileged operator)."""
    mounts: tuple[Mount, ...] = ()
    rootfs: str = ""
    """Empty host directory used as the new root by the ``unshare`` mode."""
    hostname: str = "session"


def bwrap_args(cmd: SessionCommand) -> list[str]:
    """Arguments for bwrap (passed through ``--args FD``), command included."""
    args = [
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup",
    ]
    if cmd.uid is None:
        args.append("--unshare-user")
    args += ["--hostname", cmd.hostname]
    args += render_bwrap(cmd.mounts)
    args += ["--chdir", SESSION_WORKSPACE]
    return args


def sandbox_argv(cmd: SessionCommand, tools: Tools, *, args_fd: int | None = None) -> list[str]:
    """The argv the detached launcher execs. For bwrap with ``args_fd``, the caller writes
    ``bwrap_args(cmd)`` NUL-separated to that descriptor."""
    inner = drop_privileges(tools, cmd.uid) + list(cmd.command)
    if cmd.mode is SandboxMode.BWRAP:
        assert tools.bwrap is not None
        if args_fd is not None:
            return [tools.bwrap, "--args", str(args_fd), *inner]
        return [tools.bwrap, *bwrap_args(cmd), *inner]
    if cmd.mode is SandboxMode.UNSHARE:
        assert tools.unshare is not None
        assert tools.chroot is not None
        assert tools.mount is not None
        script = "\n".join(
            [
                "set -e",
                *render_shell(cmd.mounts, new_root=cmd.rootfs, mount_bin=tools.mount),
                f"echo {shlex.quote(cmd.hostname)} > /proc/sys/kernel/hostname",
                # bwrap brings loopback up in its netns; do the same where `ip` exists.
                "for ip in /usr/sbin/ip /sbin/ip /usr/bin/ip; do"
                ' [ -x "$ip" ] && { "$ip" link set lo up || true; break; }; done',
                f"exec {shlex.quote(tools.chroot)} {shlex.quote(cmd.rootfs)} "
                f'{shlex.quote(tools.env)} -C {SESSION_WORKSPACE} "$@"',
            ]
        )
        return [
            tools.unshare,
            "--pid",
            "--fork",
            "--mount",
            "--net",
            "--ipc",
            "--uts",
            "--cgroup",
            "--propagation",
            "private",
            "--",
            tools.sh,
            "-c",
            script,
            "sh",
            *inner,
        ]
    return inner


@dataclass(frozen=True, kw_only=True, slots=True)
class RelayLaunch:
    """An egress relay started next to the session: on the host, in its cgroups, as its uid."""

    fd: int
    """Read end of the pipe that carries the relay's config (credentials: never argv, never
    a file)."""
    socket_name: str
    """Socket file the relay listens on, in the session's socket directory."""
    argv: tuple[str, ...]
    log: str = ""
    """File its standard output appends to (a gateway's refusals), opened by the launcher
    outside the session; '' leaves it with the session's log."""


def egress_socket_name(route_name: str) -> str:
    return f"egress-{route_name}.sock"


def relay_argv(
    tools: Tools, *, uid: int | None, source: str, merge_seed: str = ""
) -> tuple[str, ...]:
    """An egress relay as the session's uid (under same-page merging with ``merge_seed``)."""
    assert tools.python is not None
    relay = (tools.python, "-I", "-S", "-c", source)
    return (*drop_privileges(tools, uid), *merged(tools.python, merge_seed, relay))


def launcher_argv(
    tools: Tools,
    *,
    join_files: Sequence[str],
    pidfile: str,
    sandbox: Sequence[str],
    relays: Sequence[RelayLaunch] = (),
    sock_dir: str = "",
    inherited_fds: Sequence[int] = (),
    cwd: str = "/",
) -> list[str]:
    """``setsid -f sh -c SCRIPT``: the detached shell joins the groups, records its pid, starts
    the relays (each in the socket directory, reading its config from its pipe) and execs the
    sandbox. Descriptors meant for one program are closed for all the others."""
    assert tools.setsid is not None
    q = shlex.quote
    lines = [f"cd {q(cwd)} || exit 125"]
    lines += [f"echo $$ > {q(f)} || exit 125" for f in (*join_files, pidfile)]
    relay_fds = [r.fd for r in relays]
    for relay in relays:
        redirects = [f"<&{relay.fd}", f"{relay.fd}<&-"]
        if relay.log:
            redirects.append(f">>{q(relay.log)}")
        redirects += [
            f"{fd}<&-" for fd in dict.fromkeys((*inherited_fds, *relay_fds)) if fd != relay.fd
        ]
        lines.append(
            f"(cd {q(sock_dir)} && exec {shlex.join(relay.argv)} {q(relay.socket_name)} "
            f"{' '.join(redirects)}) &"
        )
    closes = " ".join(f"{fd}<&-" for fd in relay_fds)
    lines.append(f"exec {shlex.join(sandbox)} {closes}".rstrip())
    return [tools.setsid, "-f", tools.sh, "-c", "\n".join(lines)]


def exec_argv(
    tools: Tools,
    *,
    mode: SandboxMode,
    target_pid: int | None,
    uid: int | None,
    userns: bool,
    join_files: Sequence[str],
    argv: Sequence[str],
) -> list[str]:
    """Run ``argv`` inside a session: into its cgroups, then its namespaces, then its uid."""
    inner = drop_privileges(tools, uid) + list(argv)
    if mode is not SandboxMode.NONE:
        assert tools.nsenter is not None
        assert target_pid is not None
        enter = [tools.nsenter, "-t", str(target_pid)]
        if userns:
            enter += ["-U", "--preserve-credentials"]
        enter += ["-m", "-u", "-i", "-n", "-p", "-C", "-r", f"--wdns={SESSION_WORKSPACE}", "--"]
        inner = enter + inner
    return [tools.sh, "-c", JOIN_SCRIPT, "sh", *join_files, "--", *inner]
