"""Egress relays: the session's only way out, to one upstream, with credentials it never sees."""

from __future__ import annotations

import dataclasses
import json
import os
import textwrap
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from isolation_support import InsideRunner

from computerouter.domain.values import EgressRoute, Labels, Resources
from computerouter.providers.base import InstanceSpec
from computerouter.providers.local import LocalProvider
from computerouter.runtimes.echo import EchoRuntime

pytestmark = pytest.mark.isolation

SECRET = f"sk-test-{uuid.uuid4().hex}"


@contextmanager
def upstream() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """A model endpoint on host loopback that records what reaches it."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            body = json.dumps({"object": "list", "data": [{"id": "m"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


THROUGH_RELAY = textwrap.dedent(
    """
    import glob, json, os, socket
    def get(path):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect("/run/computerouter/egress-model.sock")
        s.sendall(("GET " + path + " HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n").encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace")
    def direct():
        s = socket.socket()
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", PORT))
            return "connected"
        except OSError as exc:
            return type(exc).__name__
    visible = ""
    for path in glob.glob("/proc/[0-9]*/cmdline") + glob.glob("/proc/[0-9]*/environ"):
        try:
            visible += open(path, "rb").read().decode(errors="replace")
        except OSError:
            pass
    for root in ("/run/computerouter", "/opt/computerouter/runtime", "/workspace"):
        for dirpath, _, names in os.walk(root):
            for name in names:
                try:
                    visible += open(os.path.join(dirpath, name), "rb").read().decode("latin-1")
                except OSError:
                    pass
    print(json.dumps({"models": get("/v1/models"), "direct": direct(),
                      "sockets": sorted(os.listdir("/run/computerouter")),
                      "secret_visible": SECRET_REVERSED[::-1] in visible}))
    """
)


def test_a_session_reaches_its_upstream_only_through_its_relay(
    local: LocalProvider, inside: InsideRunner
) -> None:
    with upstream() as (port, seen):
        key = f"ses_{uuid.uuid4().hex[:16]}"
        launch = dataclasses.replace(
            EchoRuntime().launch_spec(session_id=key),
            egress=(
                EgressRoute(
                    name="model",
                    upstream=f"http://127.0.0.1:{port}/v1",
                    headers=(("Authorization", f"Bearer {SECRET}"),),
                ),
            ),
        )
        instance = local.create(
            InstanceSpec(
                idempotency_key=key,
                labels=Labels(session_id=key, user_id="u", sandbox_id="s"),
                resources=Resources(),
                launch=launch,
            )
        )
        # Reversed, so this probe's own command line does not hold the secret it looks for.
        code = THROUGH_RELAY.replace("PORT", str(port)).replace(
            "SECRET_REVERSED", repr(SECRET[::-1])
        )

        result = inside(instance, code)

        assert result["models"].split(" ", 2)[1] == "200", result["models"]
        assert '"id": "m"' in result["models"]
        assert seen, "the upstream was reached"
        assert seen[-1]["path"] == "/v1/models"
        assert seen[-1]["authorization"] == f"Bearer {SECRET}"  # added outside the session
        assert result["direct"] != "connected"
        assert "egress-model.sock" in result["sockets"]
        assert result["secret_visible"] is False

    # The runtime inherited nothing but stdio: no bwrap argument file, no relay config pipe.
    (runtime,) = [
        p
        for p in local.footprint(instance.instance_id).pids
        if b"server.py" in _read(f"/proc/{p}/cmdline")
        and b"egress" not in _read(f"/proc/{p}/cmdline")
        and not _read(f"/proc/{p}/cmdline").startswith(b"/usr/bin/bwrap")
        and not _read(f"/proc/{p}/cmdline").startswith(b"/usr/bin/unshare")
    ]
    fds = {fd: os.readlink(f"/proc/{runtime}/fd/{fd}") for fd in os.listdir(f"/proc/{runtime}/fd")}
    assert fds["0"] == "/dev/null"
    assert fds["1"].endswith("session.log")
    assert not [t for t in fds.values() if "memfd" in t or "pipe" in t], fds

    # The relay is part of the session: in its cgroups, as its uid, gone with it.
    session_uid = inside(instance, "import os, json; print(json.dumps(os.getuid()))")
    relays = [
        pid
        for pid in local.footprint(instance.instance_id).pids
        if b"egress-model.sock" in _read(f"/proc/{pid}/cmdline")
    ]
    assert len(relays) == 1
    status = _read(f"/proc/{relays[0]}/status").decode()
    assert f"\nUid:\t{session_uid}\t" in status
    assert "\nCapEff:\t0000000000000000" in status
    local.destroy(instance.instance_id)
    assert not os.path.exists(f"/proc/{relays[0]}/status") or b"\nState:\tZ" in _read(
        f"/proc/{relays[0]}/status"
    )


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return b""
