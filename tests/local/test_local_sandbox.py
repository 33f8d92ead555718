"""Command lines that start sessions and run commands in them."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

from computerouter.providers.local.mounts import Mount, MountOp
from computerouter.providers.local.sandbox import (
    JOIN_SCRIPT,
    RelayLaunch,
    SandboxMode,
    SessionCommand,
    SessionView,
    Tools,
    bwrap_args,
    drop_privileges,
    egress_socket_name,
    exec_argv,
    launcher_argv,
    relay_argv,
    sandbox_argv,
    session_env,
    substitute,
)

TOOLS = Tools(
    sh="/bin/sh",
    setsid="/usr/bin/setsid",
    setpriv="/usr/bin/setpriv",
    bwrap="/usr/bin/bwrap",
    unshare="/usr/bin/unshare",
    nsenter="/usr/bin/nsenter",
    chroot="/usr/sbin/chroot",
    mount="/usr/bin/mount",
)
MOUNTS = (
    Mount(op=MountOp.RO_BIND, dest="/usr", source="/usr"),
    Mount(op=MountOp.BIND, dest="/workspace", source="/w"),
)


def command(mode: SandboxMode = SandboxMode.BWRAP, uid: int | None = 2_000_007) -> SessionCommand:
    return SessionCommand(
        mode=mode,
        command=("/usr/bin/python3", "server.py"),
        uid=uid,
        mounts=MOUNTS,
        rootfs="/i/rootfs",
    )


def test_bwrap_as_root_isolates_and_drops_to_the_session_uid() -> None:
    argv = sandbox_argv(command(), TOOLS)
    assert argv[0] == "/usr/bin/bwrap"
    for flag in (
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup",
    ):
        assert flag in argv
    assert "--unshare-user" not in argv
    # Sessions must outlive the control plane that started them.
    assert "--die-with-parent" not in argv
    privs = argv.index("/usr/bin/setpriv")
    assert argv[privs:] == [*drop_privileges(TOOLS, 2_000_007), "/usr/bin/python3", "server.py"]
    assert argv.index("--chdir") < privs
    assert argv[argv.index("--chdir") + 1] == "/workspace"


def test_drop_privileges_clears_everything() -> None:
    assert drop_privileges(TOOLS, 2_000_007) == [
        "/usr/bin/setpriv",
        "--reuid=2000007",
        "--regid=2000007",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]
    assert drop_privileges(TOOLS, None) == []


def test_unprivileged_bwrap_uses_a_user_namespace_and_keeps_the_uid() -> None:
    argv = sandbox_argv(command(uid=None), TOOLS)
    assert "--unshare-user" in argv
    assert "/usr/bin/setpriv" not in argv


def test_bwrap_arguments_can_travel_by_descriptor() -> None:
    cmd = command()
    argv = sandbox_argv(cmd, TOOLS, args_fd=7)
    assert argv[:3] == ["/usr/bin/bwrap", "--args", "7"]
    assert "/w" not in argv  # host paths stay out of the visible command line
    assert "/w" in bwrap_args(cmd)


def test_unshare_builds_the_view_in_a_script_then_chroots() -> None:
    argv = sandbox_argv(command(SandboxMode.UNSHARE), TOOLS)
    assert argv[0] == "/usr/bin/unshare"
    for flag in ("--pid", "--fork", "--mount", "--net", "--ipc", "--uts", "--cgroup"):
        assert flag in argv[: argv.index("--")]
    script = argv[argv.index("-c") + 1]
    assert "/usr/bin/mount --bind /w /i/rootfs/workspace" in script
    assert 'exec /usr/sbin/chroot /i/rootfs /usr/bin/env -C /workspace "$@"' in script
    assert argv[-3:] == ["--", "/usr/bin/python3", "server.py"]
    # The script is valid shell.
    assert subprocess.run(["/bin/sh", "-n", "-c", script], check=False).returncode == 0


def test_unisolated_runs_the_command_itself() -> None:
    assert sandbox_argv(command(SandboxMode.NONE, uid=None), TOOLS) == [
        "/usr/bin/python3",
        "server.py",
    ]


def test_launcher_detaches_then_joins_groups_before_exec() -> None:
    argv = launcher_argv(
        TOOLS,
        join_files=["/cg/a/cgroup.procs", "/cg/b/cgroup.procs"],
        pidfile="/i/leader.pid",
        sandbox=["/usr/bin/bwrap", "--args", "5"],
        inherited_fds=[5],
    )
    assert argv[:4] == ["/usr/bin/setsid", "-f", "/bin/sh", "-c"]
    assert argv[4].splitlines() == [
        "cd / || exit 125",
        "echo $$ > /cg/a/cgroup.procs || exit 125",
        "echo $$ > /cg/b/cgroup.procs || exit 125",
        "echo $$ > /i/leader.pid || exit 125",
        "exec /usr/bin/bwrap --args 5",
    ]


def test_launcher_starts_relays_with_their_own_pipe_only() -> None:
    relays = [
        RelayLaunch(
            fd=7, socket_name="egress-model.sock", argv=("/usr/bin/python3", "-c", "print('a  b')")
        ),
        RelayLaunch(fd=8, socket_name="egress-x.sock", argv=("/usr/bin/python3",)),
    ]
    argv = launcher_argv(
        TOOLS,
        join_files=[],
        pidfile="/i/leader.pid",
        sandbox=["/usr/bin/bwrap", "--args", "5"],
        relays=relays,
        sock_dir="/s/d",
        inherited_fds=[5, 7, 8],
    )
    lines = argv[4].splitlines()[1:]
    assert lines[1] == (
        "(cd /s/d && exec /usr/bin/python3 -c 'print('\"'\"'a  b'\"'\"')' "
        "egress-model.sock <&7 7<&- 5<&- 8<&-) &"
    )
    assert lines[2] == "(cd /s/d && exec /usr/bin/python3 egress-x.sock <&8 8<&- 5<&- 7<&-) &"
    assert lines[3] == "exec /usr/bin/bwrap --args 5 7<&- 8<&-"
    assert subprocess.run(["/bin/sh", "-n", "-c", argv[4]], check=False).returncode == 0


def test_relays_run_as_the_session_uid() -> None:
    assert relay_argv(
        dataclasses.replace(TOOLS, python="/usr/bin/python3"), uid=2_000_007, source="pass"
    ) == (*drop_privileges(TOOLS, 2_000_007), "/usr/bin/python3", "-I", "-S", "-c", "pass")
    assert egress_socket_name("model") == "egress-model.sock"


def test_join_script_writes_its_pid_everywhere_then_execs(tmp_path: Path) -> None:
    files = [tmp_path / "a", tmp_path / "b"]
    done = subprocess.run(
        ["/bin/sh", "-c", JOIN_SCRIPT, "sh", *map(str, files), "--", "/bin/sh", "-c", "echo $$"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = done.stdout.strip()
    assert [f.read_text().strip() for f in files] == [pid, pid]  # exec kept the pid


def test_join_script_refuses_to_run_when_a_group_cannot_be_joined() -> None:
    done = subprocess.run(
        ["/bin/sh", "-c", JOIN_SCRIPT, "sh", "/nonexistent/dir/procs", "--", "/bin/echo", "ran"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 125
    assert "ran" not in done.stdout


def test_exec_enters_groups_then_namespaces_then_uid() -> None:
    argv = exec_argv(
        TOOLS,
        mode=SandboxMode.BWRAP,
        target_pid=4242,
        uid=2_000_007,
        userns=False,
        join_files=["/cg/a/cgroup.procs"],
        argv=["id", "-u"],
    )
    assert argv[:6] == ["/bin/sh", "-c", JOIN_SCRIPT, "sh", "/cg/a/cgroup.procs", "--"]
    enter = argv[6:]
    assert enter[:3] == ["/usr/bin/nsenter", "-t", "4242"]
    for flag in ("-m", "-u", "-i", "-n", "-p", "-C", "-r", "--wdns=/workspace"):
        assert flag in enter
    assert "-U" not in enter
    assert enter[enter.index("/usr/bin/setpriv") :] == [
        *drop_privileges(TOOLS, 2_000_007),
        "id",
        "-u",
    ]


def test_exec_in_a_user_namespace_enters_it_too() -> None:
    argv = exec_argv(
        TOOLS,
        mode=SandboxMode.BWRAP,
        target_pid=1,
        uid=None,
        userns=True,
        join_files=[],
        argv=["id"],
    )
    assert "-U" in argv
    assert "--preserve-credentials" in argv


def test_substitute_and_env() -> None:
    view = SessionView.isolated()
    assert substitute(["{runtime_dir}/s.py", "--dir={workspace}", "{other}"], view) == (
        "/opt/computerouter/runtime/s.py",
        "--dir=/workspace",
        "{other}",
    )
    env = session_env(view, [("A", "1"), ("COMPUTEROUTER_SOCKET", "/elsewhere")])
    assert env["COMPUTEROUTER_SOCKET"] == "/run/computerouter/runtime.sock"
    assert env["COMPUTEROUTER_WORKSPACE"] == "/workspace"
    assert env["COMPUTEROUTER_RUNTIME_DIR"] == "/opt/computerouter/runtime"
    assert env["HOME"] == "/workspace"
    assert env["A"] == "1"
    assert "/root" not in env["PATH"]
