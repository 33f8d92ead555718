"""The emulated Sprites organisation: sprites, their status machine, and the sandboxes behind.

Each sprite is backed by one ``local`` session running the in-sprite agent (:mod:`.agent`), so
commands and Services really run. Status follows the vendor: ``running`` while used;
``warm`` after ``idle_to_warm_s`` without activity (the backing session is frozen); ``cold``
after ``warm_to_cold_s`` more (its Services are stopped, then it is frozen). Any use wakes it:
after ``warm_wake_s`` from warm, after ``cold_wake_s`` from cold, when Services start again
(hand-started processes do not survive a cold sprite). Every delay is divided by ``speed``.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from computerouter.domain.instances import Instance
from computerouter.domain.values import (
    EgressRoute,
    FileSpec,
    Labels,
    LaunchSpec,
    MountSpec,
    Resources,
)
from computerouter.providers.base import InstanceSpec
from computerouter.providers.local import LocalProvider
from computerouter.runtimes.echo.runtime import sandbox_python
from computerouter.runtimes.transport import client_for

__all__ = ["REGIONS", "Checkpoint", "Sprite", "Timings", "World"]

REGIONS: tuple[str, ...] = ("ord", "iad", "sjc", "lhr", "fra", "ams", "nrt", "syd")


@dataclass(frozen=True, kw_only=True, slots=True)
class Timings:
    """Vendor figures: warm wake 0.1-0.5 s, cold wake 1-2 s. Idle thresholds are the
    emulator's (the vendor hibernates an idle sprite after tens of seconds)."""

    warm_wake_s: tuple[float, float] = (0.1, 0.5)
    cold_wake_s: tuple[float, float] = (1.0, 2.0)
    idle_to_warm_s: float = 30.0
    warm_to_cold_s: float = 300.0
    speed: float = 1.0

    def wake(self, cold: bool) -> float:
        low, high = self.cold_wake_s if cold else self.warm_wake_s
        return random.uniform(low, high) / self.speed


@dataclass(kw_only=True)
class Checkpoint:
    id: str
    create_time: datetime
    comment: str = ""


@dataclass(kw_only=True)
class Sprite:
    name: str
    id: str
    region: str
    labels: list[str]
    config: dict[str, Any]
    url_auth: str
    created_at: datetime
    backing: Instance
    status: str = "cold"
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_active: float = field(default_factory=time.monotonic)
    in_flight: int = 0
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    policy: list[dict[str, str]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)


def _hostport(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"


def _agent_spec(
    name: str,
    resources_: Resources,
    images: tuple[tuple[str, str], ...],
    upstreams: tuple[str, ...],
) -> InstanceSpec:
    agent = resources.files("computerouter.emulators.fly_sprites").joinpath("agent.py")
    routes = tuple(EgressRoute(name=f"up{i}", upstream=u) for i, u in enumerate(upstreams))
    launch = LaunchSpec(
        runtime="sprite-agent",
        argv=(sandbox_python(), "-I", "-S", "{runtime_dir}/agent.py"),
        env=(("SPRITE_UPSTREAMS", ";".join(f"{r.name}={_hostport(r.upstream)}" for r in routes)),),
        files=(FileSpec(name="agent.py", content=agent.read_bytes()),),
        mounts=tuple(MountSpec(source=src, target=dst) for src, dst in images),
        egress=routes,
        health_path="/health",
        start_timeout_s=20.0,
    )
    return InstanceSpec(
        idempotency_key=f"sprite-{name}",
        labels=Labels(session_id=f"sprite-{name}", user_id="emulator", sandbox_id=name),
        resources=resources_,
        launch=launch,
    )


class World:
    """Everything the emulator knows; thread-safe (routes run in a thread pool)."""

    def __init__(
        self,
        *,
        root: Path,
        token: str,
        organization: str = "emulated-org",
        regions: tuple[str, ...] = REGIONS,
        timings: Timings | None = None,
        max_sprites: int = 100,
        backing: LocalProvider | None = None,
        images: tuple[tuple[str, str], ...] = (),
        upstreams: tuple[str, ...] = (),
    ) -> None:
        """``images``: (host directory, target) pairs every sprite has read-only, as a base
        image would (Hermes's built venv at /opt/hermes). ``upstreams``: URLs on this machine
        a sprite may reach once its network policy allows their host."""
        self.images = images
        self.upstreams = upstreams
        self.token = token
        self.organization = organization
        self.regions = regions
        self.timings = timings or Timings()
        self.max_sprites = max_sprites
        self.backing = backing or LocalProvider(root=root / "local")
        self.sprites: dict[str, Sprite] = {}
        self.unimplemented: list[str] = []
        self.backed: dict[str, str] = {}
        """Sprite name -> backing local instance id, kept after destroy (tests look there)."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="sprites-idle", daemon=True)
        self._ticker.start()

    # -- sprites -----------------------------------------------------------------------------

    def create(
        self, name: str, *, region: str, config: dict[str, Any], labels: list[str], auth: str
    ) -> Sprite:
        cpus = float(config.get("cpus") or 1)
        memory = int(config.get("ram_mb") or 1024)
        backing = self.backing.create(
            _agent_spec(
                name, Resources(cpus=cpus, memory_mb=memory, pids=512), self.images, self.upstreams
            )
        )
        now = datetime.now(UTC)
        sprite = Sprite(
            name=name,
            id=str(uuid.uuid4()),
            region=region,
            labels=labels,
            config={**config, "region": region},
            url_auth=auth,
            created_at=now,
            backing=backing,
            status="running",
        )
        with self._lock:
            self.sprites[name] = sprite
            self.backed[name] = backing.instance_id
        return sprite

    def get(self, name: str) -> Sprite | None:
        with self._lock:
            return self.sprites.get(name)

    def destroy(self, name: str) -> bool:
        with self._lock:
            sprite = self.sprites.pop(name, None)
        if sprite is None:
            return False
        with sprite.lock:
            self.backing.destroy(sprite.backing.instance_id)
        return True

    def vanish(self, name: str) -> bool:
        """A fault: the sprite is gone without anyone asking (host lost)."""
        return self.destroy(name)

    def close(self) -> None:
        self._stop.set()
        self._ticker.join(timeout=2)
        for name in list(self.sprites):
            self.destroy(name)

    # -- activity ----------------------------------------------------------------------------

    def enter(self, sprite: Sprite) -> None:
        """A request touches the sprite: wake it first (vendor wake latency)."""
        with sprite.lock:
            sprite.in_flight += 1
            if sprite.status != "running":
                cold = sprite.status == "cold"
                time.sleep(self.timings.wake(cold))
                self.backing.resume(sprite.backing.instance_id)
                if cold:
                    self.agent(sprite, "POST", "/services/restart")
                sprite.status = "running"
            sprite.last_active = time.monotonic()

    def leave(self, sprite: Sprite) -> None:
        with sprite.lock:
            sprite.in_flight -= 1
            sprite.last_active = time.monotonic()

    def _tick(self) -> None:
        while not self._stop.wait(0.05):
            with self._lock:
                sprites = list(self.sprites.values())
            for sprite in sprites:
                try:
                    self._idle(sprite)
                except Exception:  # a sprite destroyed meanwhile: nothing to hibernate
                    continue

    def _idle(self, sprite: Sprite) -> None:
        if not sprite.lock.acquire(blocking=False):
            return
        try:
            if sprite.in_flight:
                return
            idle = time.monotonic() - sprite.last_active
            warm_at = self.timings.idle_to_warm_s / self.timings.speed
            cold_at = warm_at + self.timings.warm_to_cold_s / self.timings.speed
            iid = sprite.backing.instance_id
            if sprite.status == "running" and idle >= warm_at:
                self.backing.suspend(iid)
                sprite.status = "warm"
            elif sprite.status == "warm" and idle >= cold_at:
                self.backing.resume(iid)
                self.agent(sprite, "POST", "/cold")
                self.backing.suspend(iid)
                sprite.status = "cold"
        finally:
            sprite.lock.release()

    # -- inside the sprite -------------------------------------------------------------------

    def agent(
        self, sprite: Sprite, method: str, path: str, *, timeout_s: float = 30.0, **kw: Any
    ) -> httpx.Response:
        assert sprite.backing.endpoint is not None
        with client_for(sprite.backing.endpoint, timeout_s=timeout_s) as client:
            return client.request(method, path, **kw)

    def allow(self, sprite: Sprite) -> None:
        """Open the upstreams the sprite's network policy allows (by host, or ``*``)."""
        allowed = {r.get("domain", "") for r in sprite.policy if r.get("action") == "allow"}
        names = [
            f"up{i}"
            for i, url in enumerate(self.upstreams)
            if "*" in allowed or httpx.URL(url).host in allowed
        ]
        if names:
            self.agent(sprite, "POST", "/policy", json={"allow": names})

    def service_states(self, sprite: Sprite) -> dict[str, dict[str, Any]]:
        if sprite.status != "running":
            return {}
        return dict(self.agent(sprite, "GET", "/services").json())
