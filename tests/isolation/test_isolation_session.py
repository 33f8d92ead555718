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

from computerouter.providers.local import LocalProvider
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
