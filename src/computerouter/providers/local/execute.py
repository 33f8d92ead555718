"""Running one command inside a live session: its namespaces, its uid, its environment.

The provider checks first that the session runs, is not frozen and that this host can enter
it; this module builds the ``nsenter`` (or plain) command line and runs it with a timeout.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Sequence

from computerouter.domain.instances import ExecResult
from computerouter.errors import ProviderError
from computerouter.providers.local.errors import PROVIDER
from computerouter.providers.local.launch import seccomp_prefix, session_view
from computerouter.providers.local.layout import Layout
from computerouter.providers.local.metadata import InstanceRecord
from computerouter.providers.local.sandbox import SandboxMode, exec_argv, session_env
from computerouter.providers.local.seccomp import APPLIER_NAME
from computerouter.providers.local.tree import ProcessTree

__all__ = ["run_in_session"]


def run_in_session(
    layout: Layout,
    record: InstanceRecord,
    *,
    mode: SandboxMode,
    tree: ProcessTree,
    pids: Sequence[int],
    argv: Sequence[str],
    timeout_s: float,
) -> ExecResult:
    """Run ``argv`` in the session of ``record`` (``pids``: its live processes)."""
    paths = layout.paths(record.instance_id)
    view = session_view(mode, paths)
    command = exec_argv(
        layout.host.tools,
        mode=mode,
        target_pid=_pid_inside(pids) if mode is not SandboxMode.NONE else None,
        uid=layout.switch_uid(record),
        userns=layout.host.userns,
        join_files=[str(f) for f in tree.join_files()],
        # Under the session's filter, as its runtime is (a session started without one, by an
        # older version or on a host without seccomp, has no applier: as it was started).
        argv=(*seccomp_prefix(layout.host), *argv)
        if (paths.runtime_dir / APPLIER_NAME).exists()
        else argv,
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
