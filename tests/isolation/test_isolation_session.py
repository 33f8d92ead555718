"""A session cannot reach the host's loopback, other sessions, or anything outside /workspace.

Every check runs inside a real session (``exec``) and has a positive control, so a broken
probe (a Python error, a missing tool) cannot pass for isolation.
"""

from __future__ import annotations

import contextlib
import os
import socket
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from isolation_support import InsideRunner, SessionFactory

from computerouter.domain.values import Labels, Resources
from computerouter.providers.base import InstanceSpec
from computerouter.providers.local import LocalProvider
from computerouter.runtimes.echo import EchoRuntime
from computerouter.runtimes.transport import client_for

pytestmark = pytest.mark.isolation

CONNECT = textwrap.dedent(
    """
    import json, socket
    def attempt(host, port):
        s = socket.socket()
        s.settimeout(1.0)
        try:
            s.connect((host, port))
            return "connected"
        except OSError as exc:
            return type(exc).__name__
        finally:
            s.close()
    own = socket.socket()
    own.bind(("127.0.0.1", 0))
    own.listen(1)
    print(json.dumps({
        "own_loopback": attempt("127.0.0.1", own.getsockname()[1]),
        "host_listener": attempt("127.0.0.1", PORT),
        "postgres": attempt("127.0.0.1", 5432),
    }))
    """
)


@contextlib.contextmanager
def host_listener() -> Iterator[socket.socket]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    try:
        yield listener
    finally:
        listener.close()


def _reachable_from_host(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def test_host_loopback_services_are_unreachable(
    session: SessionFactory, inside: InsideRunner
) -> None:
    instance = session()
    with host_listener() as listener:
        port = listener.getsockname()[1]
        assert _reachable_from_host(port), "positive control: the host reaches its listener"
        with contextlib.suppress(BlockingIOError):
            listener.accept()[0].close()

        seen = inside(instance, CONNECT.replace("PORT", str(port)))

        assert seen["own_loopback"] == "connected", "positive control: networking works inside"
        assert seen["host_listener"] != "connected"
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing from the session arrived
    assert seen["postgres"] != "connected"
    if not _reachable_from_host(5432):
        pytest.skip("PostgreSQL is not listening on the host; the throwaway listener covered it")


READ_OTHERS = textwrap.dedent(
    """
    import json, os
    def attempt(action):
        try:
            action()
            return "ok"
        except OSError as exc:
            return type(exc).__name__
    def read(path):
        with open(path, "rb") as fh:
            fh.read()
    open("/workspace/mine.txt", "w").write("mine")
    print(json.dumps({
        "own_file": attempt(lambda: read("/workspace/mine.txt")),
        "other_file": attempt(lambda: read(OTHER_FILE)),
        "other_dir": attempt(lambda: os.listdir(OTHER_DIR)),
        "provider_root": os.listdir(ROOT) if os.path.isdir(ROOT) else "absent",
        "uid": os.getuid(),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    }))
    """
)


def test_a_session_cannot_read_another_sessions_workspace(
    local: LocalProvider, session: SessionFactory, inside: InsideRunner
) -> None:
    alice, bob = session(), session()
    with client_for(alice.endpoint) as client:  # type: ignore[arg-type]
        assert client.put("/v1/workspace/secret.txt", content=b"alice only").status_code == 200
    alice_dir = local.root / "instances" / alice.instance_id
    alice_file = alice_dir / "workspace" / "secret.txt"
    assert alice_file.read_bytes() == b"alice only", "positive control: the secret is on disk"
    code = (
        READ_OTHERS.replace("OTHER_FILE", repr(str(alice_file)))
        .replace("OTHER_DIR", repr(str(alice_dir)))
        .replace("ROOT", repr(str(local.root)))
    )

    seen = inside(bob, code)

    assert seen["own_file"] == "ok", "positive control: bob reads his own workspace"
    assert seen["other_file"] != "ok"
    assert seen["other_dir"] != "ok"
    assert seen["provider_root"] in ([], "absent")
    # Even were the path visible: alice's workspace is hers alone, and bob is someone else.
    alice_uid = inside(alice, "import os, json; print(json.dumps(os.getuid()))")
    assert alice_file.parent.stat().st_uid == alice_uid
    assert alice_file.parent.stat().st_mode & 0o077 == 0
    assert seen["uid"] != alice_uid
    # Bob's pid namespace holds only his own tree (init, runtime, this probe and its enterer).
    assert len(seen["pids"]) <= 4, seen["pids"]


WRITE_OUTSIDE = textwrap.dedent(
    """
    import json
    def attempt(path):
        try:
            with open(path, "w") as fh:
                fh.write("x")
            return "ok"
        except OSError as exc:
            return type(exc).__name__
    print(json.dumps({target: attempt(target + "/" + NAME) for target in TARGETS}))
    """
)


def test_a_session_cannot_write_outside_its_workspace(
    local: LocalProvider, session: SessionFactory, inside: InsideRunner
) -> None:
    instance = session()
    name = f"cr-probe-{uuid.uuid4().hex[:8]}"
    forbidden = [
        "/",
        "/usr",
        "/etc",
        "/root",
        "/home",
        "/var",
        "/opt/computerouter/runtime",
        str(local.root),
        str(local.root / "instances"),
    ]
    allowed = ["/workspace", "/tmp"]
    code = WRITE_OUTSIDE.replace("NAME", repr(name)).replace("TARGETS", repr(forbidden + allowed))

    try:
        seen = inside(instance, code)

        assert all(seen[t] == "ok" for t in allowed), f"positive control failed: {seen}"
        assert {t: seen[t] for t in forbidden if seen[t] == "ok"} == {}
        for target in forbidden:
            assert not os.path.exists(os.path.join(target, name)), f"{target} got the file"
        assert (local.root / "instances" / instance.instance_id / "workspace" / name).exists()
    finally:
        # Were isolation broken, do not leave probe files all over the host.
        for target in forbidden:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(target, name))


STATUS = textwrap.dedent(
    """
    import json
    fields = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
    print(json.dumps({k: fields[k].split() for k in
                      ("Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                       "NoNewPrivs")}))
    """
)


def test_sessions_run_as_distinct_unprivileged_uids_without_capabilities(
    local: LocalProvider, session: SessionFactory, inside: InsideRunner
) -> None:
    own = Path("/proc/self/status").read_text()
    assert "\nUid:\t0\t" in own, "positive control: the test runs as root"
    assert "\nCapEff:\t0000000000000000" not in own, "positive control: root has capabilities"
    first, second = session(), session()

    one, two = inside(first, STATUS), inside(second, STATUS)

    for status in (one, two):
        assert "0" not in status["Uid"]
        assert "0" not in status["Gid"]
        for caps in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(status[caps][0], 16) == 0, (caps, status[caps])
        assert status["NoNewPrivs"] == ["1"]
        uid = int(status["Uid"][0])
        assert 2_000_000 <= uid < 2_100_000
    assert one["Uid"][0] != two["Uid"][0]


SEES = textwrap.dedent(
    """
    import json, os
    print(json.dumps({p: os.path.lexists(p) for p in PATHS}))
    """
)


def test_a_session_sees_only_what_it_needs(
    local: LocalProvider, session: SessionFactory, inside: InsideRunner, tmp_path: Path
) -> None:
    """Not the host's private places, not this control plane's home, not another home; the
    system, a curated /etc and its own workspace are there (positive control)."""
    other_home = Path(os.path.expanduser("~")) / ".computerouter"
    hidden = [
        "/home", "/srv", "/root", "/var/lib", "/etc/shadow", "/etc/ssh", "/etc/sudoers",
        "/etc/machine-id", str(local.root), str(local.root.parent), str(tmp_path),
        str(other_home),
    ]  # fmt: skip
    hidden += (
        [f"/opt/{name}" for name in sorted(os.listdir("/opt"))] if os.path.isdir("/opt") else []
    )
    shown = ["/usr/bin/env", "/etc/hosts", "/etc/ld.so.cache", "/workspace", "/tmp", "/var/tmp"]
    host_has = {p: os.path.lexists(p) for p in hidden}
    assert any(host_has.values()), "the host has none of the places this test looks for"
    instance = session()
    seen = inside(instance, SEES.replace("PATHS", repr(hidden + shown)))
    assert {p: seen[p] for p in shown} == dict.fromkeys(shown, True), "positive control failed"
    assert {p: seen[p] for p in hidden if seen[p]} == {}


ESCAPES = textwrap.dedent(
    """
    import ctypes, json, os
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    def call(nr, *args):
        ctypes.set_errno(0)
        result = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
        return "ok" if result >= 0 else os.strerror(ctypes.get_errno())
    sibling = os.fork()
    if sibling == 0:
        os.pause()
    seen = {
        "add_key": call(248, 0, 0, 0, 0, 0),
        "keyctl": call(250, 0, 0, 0, 0, 0),
        "ptrace": call(101, 16, sibling, 0, 0),  # PTRACE_ATTACH to a sibling
        "unshare": call(272, 0x10000000),  # CLONE_NEWUSER
        "mount": call(165, 0, 0, 0, 0, 0),
        "bpf": call(321, 0, 0, 0),
        "getpid": call(39),
    }
    os.kill(sibling, 9)
    with open("/proc/self/status") as fh:
        seen["Seccomp"] = [l.split()[1] for l in fh if l.startswith("Seccomp:")][0]
    print(json.dumps(seen))
    """
)


def test_kernel_escapes_fail_inside_a_session(
    local: LocalProvider, session: SessionFactory, inside: InsideRunner
) -> None:
    """Keyrings, tracing a sibling, new namespaces, mounts and BPF are refused by the session's
    seccomp filter, in an operator's exec and in the runtime's own process tree."""
    instance = session()
    seen = inside(instance, ESCAPES)
    assert seen["getpid"] == "ok", f"positive control failed: {seen}"
    assert seen["Seccomp"] == "2"
    denied = {k: v for k, v in seen.items() if k not in ("getpid", "Seccomp")}
    assert denied == dict.fromkeys(denied, os.strerror(1)), denied  # EPERM, every one
    # The runtime's own tree: the session's processes but the sandbox tool that set it up.
    statuses = [_status(p) for p in os.listdir("/proc") if p.isdigit()]
    runtime = [
        s for s in statuses if s and _in_instance(s["Pid"], instance.instance_id)
        and s["Name"] not in ("bwrap", "unshare")
    ]  # fmt: skip
    assert runtime, "the session's runtime was not found"
    assert {s["Name"]: s["Seccomp"] for s in runtime} == {s["Name"]: "2" for s in runtime}


def _status(pid: str) -> dict[str, str] | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def _in_instance(pid: str, instance_id: str) -> bool:
    try:
        with open(f"/proc/{pid}/cgroup") as fh:
            return f"/{instance_id}\n" in fh.read()
    except OSError:
        return False


def test_two_control_planes_with_different_homes_never_share_a_uid(
    local: LocalProvider, session: SessionFactory, tmp_path: Path
) -> None:
    """Sessions of two homes on one machine, from the same uid range: each its own uid, seen
    from outside (the processes' real uids), because the machine keeps one registry."""
    other = LocalProvider(root=tmp_path / "other-home" / "local", host=local.host)
    try:
        mine = [session() for _ in range(2)]
        theirs = [
            other.create(
                InstanceSpec(
                    idempotency_key=f"ses_{uuid.uuid4().hex[:20]}",
                    labels=Labels(
                        session_id=f"ses_{uuid.uuid4().hex[:20]}", user_id="u", sandbox_id="t"
                    ),
                    resources=Resources(cpus=1.0, memory_mb=256, pids=64),
                    launch=EchoRuntime().launch_spec(session_id="ses_other"),
                )
            )
            for _ in range(2)
        ]
        owners: dict[int, set[str]] = {}
        for instance in mine + theirs:
            uids = {
                int(status["Uid"].split()[0])
                for status in (_status(p) for p in os.listdir("/proc") if p.isdigit())
                if status and _in_instance(status["Pid"], instance.instance_id)
                and status["Name"] not in ("bwrap", "unshare")
            }  # fmt: skip
            assert len(uids) == 1, (instance.instance_id, uids)
            owners.setdefault(uids.pop(), set()).add(instance.instance_id)
        assert all(len(ids) == 1 for ids in owners.values()), owners
        assert len(owners) == 4
    finally:
        for instance in other.list():
            other.destroy(instance.instance_id)
