"""The emulated sandboxes: Daytona's state machine, each sandbox backed by a local session.

A sandbox is a ``local`` instance running the in-sandbox agent (:mod:`.agent`). Daytona's
*stop* freezes it (its processes and files stay; a *start* thaws it in a fraction of a second),
*archive* packs its workspace away (the local archive), and a *start* of an archived sandbox
restores it. Each transition takes the configured time in a background thread, moving
through Daytona's transitional states (``creating``, ``starting``, ``stopping``, ``archiving``,
``restoring``, ``destroying``) and telling listeners of each change, as Daytona's event stream
does.
"""

from __future__ import annotations

import datetime
import ipaddress
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from computerouter.domain.values import (
    EgressRoute,
    FileSpec,
    Labels,
    LaunchSpec,
    MountSpec,
    Resources,
)
from computerouter.emulators.daytona.settings import EmulatorSettings
from computerouter.providers.base import InstanceSpec
from computerouter.providers.local import LocalProvider

__all__ = ["EmulatedSandbox", "Sandboxes", "StateError"]

_AGENT = Path(__file__).with_name("agent.py")
Listener = Callable[["EmulatedSandbox", str], None]


class StateError(Exception):
    """A request the sandbox's state does not allow (Daytona answers 400/409)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


@dataclass(kw_only=True)
class EmulatedSandbox:
    id: str
    name: str
    target: str
    labels: dict[str, str]
    env: dict[str, str]
    snapshot: str
    cpu: int
    memory: int
    disk: int
    auto_stop_interval: int
    auto_archive_interval: int
    auto_delete_interval: int
    network_allow_list: str | None
    network_block_all: bool
    state: str = "creating"
    error_reason: str | None = None
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    last_activity_at: str = field(default_factory=_now)
    preview_token: str = field(default_factory=lambda: uuid.uuid4().hex)
    instance_id: str = ""
    busy: bool = False


class Sandboxes:
    """Every sandbox of the emulator, and the local provider that runs them."""

    def __init__(self, *, settings: EmulatorSettings, root: Path) -> None:
        self.settings = settings
        self.local = LocalProvider(root=root / "local")
        self._lock = threading.Lock()
        self._sandboxes: dict[str, EmulatedSandbox] = {}
        self._listeners: list[Listener] = []
        self._specs: dict[str, InstanceSpec] = {}

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # -- reading -------------------------------------------------------------------------

    def get(self, id_or_name: str) -> EmulatedSandbox:
        with self._lock:
            found = self._sandboxes.get(id_or_name) or next(
                (s for s in self._sandboxes.values() if s.name == id_or_name), None
            )
        if found is None:
            raise StateError(404, f"Sandbox with ID or name {id_or_name} not found")
        return found

    def all(self) -> list[EmulatedSandbox]:
        with self._lock:
            return list(self._sandboxes.values())

    def vanish(self, id_or_name: str) -> None:
        """The sandbox disappears without a word (a fault): its backing instance goes too."""
        sandbox = self.get(id_or_name)
        with self._lock:
            self._sandboxes.pop(sandbox.id, None)
        if sandbox.instance_id:
            self.local.destroy(sandbox.instance_id)

    # -- transitions ---------------------------------------------------------------------

    def create(self, request: dict[str, Any]) -> EmulatedSandbox:
        target = request.get("target") or self.settings.default_region
        if target not in self.settings.regions:
            raise StateError(
                400, f"Region {target} is not available (available: {self.settings.regions})"
            )
        snapshot = request.get("snapshot")
        known = {name for name, _, _ in self.settings.images}
        if snapshot and snapshot not in known and not snapshot.startswith("daytonaio/"):
            raise StateError(404, f"Snapshot {snapshot} not found")
        sandbox_id = str(uuid.uuid4())
        sandbox = EmulatedSandbox(
            id=sandbox_id,
            name=request.get("name") or sandbox_id,
            target=target,
            labels=dict(request.get("labels") or {}),
            env=dict(request.get("env") or {}),
            snapshot=request.get("snapshot") or "daytonaio/sandbox:0.5.0",
            cpu=int(request.get("cpu") or 1),
            memory=int(request.get("memory") or 1),
            disk=int(request.get("disk") or 3),
            auto_stop_interval=int(request.get("autoStopInterval", 15)),
            auto_archive_interval=int(request.get("autoArchiveInterval", 10080)),
            auto_delete_interval=int(request.get("autoDeleteInterval", -1)),
            network_allow_list=request.get("networkAllowList"),
            network_block_all=bool(request.get("networkBlockAll", False)),
        )
        with self._lock:
            if any(s.name == sandbox.name for s in self._sandboxes.values()):
                raise StateError(409, f"Sandbox with name {sandbox.name} already exists")
            self._sandboxes[sandbox_id] = sandbox
        self._specs[sandbox_id] = self._backing_spec(sandbox)
        self._run(sandbox, "creating", self.settings.timings.create_s, self._do_create, "started")
        return sandbox

    def start(self, id_or_name: str) -> EmulatedSandbox:
        sandbox = self.get(id_or_name)
        if sandbox.state == "started":
            return sandbox
        if sandbox.state == "stopped":
            self._run(sandbox, "starting", self.settings.timings.start_s, self._do_resume)
        elif sandbox.state == "archived":
            self._run(sandbox, "restoring", self.settings.timings.restore_s, self._do_restore)
        elif sandbox.state not in ("starting", "restoring", "creating"):
            raise StateError(409, f"Sandbox {sandbox.id} is {sandbox.state}; it cannot start")
        return sandbox

    def stop(self, id_or_name: str) -> EmulatedSandbox:
        sandbox = self.get(id_or_name)
        if sandbox.state == "started":
            self._run(sandbox, "stopping", self.settings.timings.stop_s, self._do_stop, "stopped")
        elif sandbox.state not in ("stopped", "stopping"):
            raise StateError(409, f"Sandbox {sandbox.id} is {sandbox.state}; it cannot stop")
        return sandbox

    def archive(self, id_or_name: str) -> EmulatedSandbox:
        sandbox = self.get(id_or_name)
        if sandbox.state == "archived":
            return sandbox
        if sandbox.state != "stopped":
            raise StateError(400, "Sandbox must be stopped before it can be archived")
        self._run(
            sandbox, "archiving", self.settings.timings.archive_s, self._do_archive, "archived"
        )
        return sandbox

    def delete(self, id_or_name: str) -> EmulatedSandbox:
        sandbox = self.get(id_or_name)
        self._run(
            sandbox, "destroying", self.settings.timings.delete_s, self._do_delete, "destroyed"
        )
        return sandbox

    def touch(self, id_or_name: str) -> None:
        self.get(id_or_name).last_activity_at = _now()

    # -- machinery -----------------------------------------------------------------------

    def _set(self, sandbox: EmulatedSandbox, state: str) -> None:
        sandbox.state = state
        sandbox.updated_at = _now()
        for listener in list(self._listeners):
            listener(sandbox, state)

    def _run(
        self,
        sandbox: EmulatedSandbox,
        during: str,
        seconds: float,
        work: Callable[[EmulatedSandbox], None],
        after: str = "started",
    ) -> None:
        if sandbox.busy:
            raise StateError(409, f"Sandbox {sandbox.id} is {sandbox.state}: a change is running")
        sandbox.busy = True
        self._set(sandbox, during)
        began = time.monotonic()

        def go() -> None:
            try:
                work(sandbox)
                left = self.settings.timings.scaled(seconds) - (time.monotonic() - began)
                if left > 0:
                    time.sleep(left)
                sandbox.error_reason = None
                final = after
            except Exception as exc:
                sandbox.error_reason = str(exc)
                final = "error"
            sandbox.busy = False
            if final == "destroyed":
                with self._lock:
                    self._sandboxes.pop(sandbox.id, None)
            self._set(sandbox, final)

        threading.Thread(target=go, name=f"daytona-{during}-{sandbox.id}", daemon=True).start()

    def _do_create(self, sandbox: EmulatedSandbox) -> None:
        sandbox.instance_id = self.local.create(self._specs[sandbox.id]).instance_id

    def _do_resume(self, sandbox: EmulatedSandbox) -> None:
        self.local.resume(sandbox.instance_id)

    def _do_stop(self, sandbox: EmulatedSandbox) -> None:
        self.local.suspend(sandbox.instance_id)

    def _do_archive(self, sandbox: EmulatedSandbox) -> None:
        self.local.archive(sandbox.instance_id)

    def _do_restore(self, sandbox: EmulatedSandbox) -> None:
        self.local.restore(sandbox.instance_id, self._specs[sandbox.id])
        self.local.release_archive(sandbox.instance_id)

    def _do_delete(self, sandbox: EmulatedSandbox) -> None:
        if sandbox.instance_id:
            self.local.destroy(sandbox.instance_id)

    def _backing_spec(self, sandbox: EmulatedSandbox) -> InstanceSpec:
        mounts = tuple(
            MountSpec(source=source, target=target)
            for name, source, target in self.settings.images
            if name == sandbox.snapshot
        )
        routes, listen = self._egress(sandbox.network_allow_list, sandbox.env)
        env = {**sandbox.env, "AGENT_EGRESS": ",".join(listen)}
        launch = LaunchSpec(
            runtime="daytona-agent",
            argv=("/usr/bin/python3", "{runtime_dir}/agent.py"),
            env=tuple(env.items()),
            files=(FileSpec(name="agent.py", content=_AGENT.read_bytes()),),
            mounts=mounts,
            egress=routes,
            health_path="/health",
        )
        return InstanceSpec(
            idempotency_key=f"ses_{sandbox.id.replace('-', '')[:24]}",
            labels=Labels(session_id=sandbox.id, user_id="daytona", sandbox_id=sandbox.id),
            resources=Resources(cpus=float(sandbox.cpu), memory_mb=1024 * sandbox.memory),
            launch=launch,
        )

    @staticmethod
    def _egress(
        allow: str | None, env: dict[str, str]
    ) -> tuple[tuple[EgressRoute, ...], list[str]]:
        """One egress route per destination the sandbox is told of (``COMPUTEROUTER_EGRESS_*``
        in its environment, ``host:port``) whose address the network allow list admits: the
        only destinations it can reach. Only loopback hosts can be relayed from inside."""
        networks = [
            ipaddress.ip_network(c.strip(), strict=False)
            for c in (allow or "").split(",")
            if c.strip()
        ]
        routes: list[EgressRoute] = []
        listen: list[str] = []
        seen: set[str] = set()
        for var, address in sorted(env.items()):
            if address in seen:  # one listener per destination, however many names it has
                continue
            if not var.startswith("COMPUTEROUTER_EGRESS_"):
                continue
            host, _, port = address.rpartition(":")
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                continue
            if not port.isdigit() or not ip.is_loopback or not any(ip in n for n in networks):
                continue
            name = var.removeprefix("COMPUTEROUTER_EGRESS_").lower()
            seen.add(address)
            routes.append(EgressRoute(name=name, upstream=f"http://{host}:{port}"))
            listen.append(f"{host}:{port}={name}")
        return tuple(routes), listen
