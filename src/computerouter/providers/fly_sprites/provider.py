"""The ``fly_sprites`` provider on the official ``sprites-py`` SDK.

A session is one sprite named ``cr-<session id>`` (see :mod:`.naming`). Placement follows the
vendor: the runtime's files are written under ``/workspace/.computerouter/runtime`` (the
sprite's disk is persistent, so HERMES_HOME in ``/workspace`` survives everything but
destroy), and the runtime runs as a Service with ``http_port = launch.port``, because Services
are restarted when a cold sprite wakes and hand-started processes are not. The router reaches
it through the sprite URL: ``public`` by default, the runtime checking its callers itself
(Hermes's per-session key is an ``Authorization`` header, which URL auth ``sprite`` would take
for the organisation token), or ``sprite``, the token as bearer.

How our lifecycle maps onto a vendor that hibernates sprites by itself:

- ``suspend`` stops the runtime Service. Sprites has no explicit freeze; a sprite with nothing
  running and no requests goes warm, then cold, and is not billed for compute. We advertise
  ``suspend`` in that sense: the runtime's memory is lost, its disk is kept; ``resume`` starts
  the Service again (a cold wake, 1-2 s, plus the runtime's own start).
- ``archive`` takes a checkpoint (the vendor's durable copy of the disk), records it in the
  labels, then stops the Service: write-ahead, safe to repeat. The vendor keeps the sprite's
  storage; there is no separate compute to destroy. ``restore`` rolls the disk back to that
  checkpoint and starts the Service; ``release_archive`` forgets the checkpoint (the vendor
  keeps its checkpoints; the SDK has no call to delete one).
"""

from __future__ import annotations

import math
import shlex
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import httpx

from computerouter.domain.instances import ExecResult, Instance, InstanceState, InstanceUsage
from computerouter.domain.logs import LogLine
from computerouter.domain.values import EgressRoute, Endpoint, LaunchSpec
from computerouter.errors import InstanceNotFound, LogsArchived, ProviderError, RuntimeFailure
from computerouter.providers.base import Capabilities, InstanceSpec
from computerouter.providers.egress.remote import RemoteGateway
from computerouter.providers.egress.remote_seam import RemoteEgress, gateway_env
from computerouter.providers.fly_sprites.errors import PROVIDER, translate
from computerouter.providers.fly_sprites.naming import PREFIX, SpriteLabels, sprite_name
from computerouter.providers.fly_sprites.states import Mark, instance_state

if TYPE_CHECKING:
    from sprites import Sprite, SpritesClient

__all__ = ["REGIONS", "FlySpritesProvider"]

REGIONS: tuple[str, ...] = ("ord", "iad", "sjc", "lhr", "fra", "ams", "nrt", "syd")
WORKSPACE = "/workspace"
RUNTIME_DIR = f"{WORKSPACE}/.computerouter/runtime"
SESSION_LOG = f"{WORKSPACE}/.computerouter/session.log"
SERVICE = "computerouter-runtime"


class FlySpritesProvider(RemoteEgress):
    """With ``gateway`` (the router's remote gateway), every sprite's egress goes through it
    and its network policy allows the gateway's host alone."""

    def __init__(
        self,
        *,
        token: str,
        base_url: str = "https://api.sprites.dev",
        region: str = "",
        url_auth: str = "public",
        timeout_s: float = 30.0,
        client: SpritesClient | None = None,
        gateway: RemoteGateway | None = None,
    ) -> None:
        from sprites import SpritesClient

        self._gateway = gateway
        self._token = token
        self._url_auth = url_auth
        self._region = region
        self._client = client or SpritesClient(token, base_url=base_url, timeout=timeout_s)

    @property
    def name(self) -> str:
        return PROVIDER

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            suspend=True,
            archive=True,
            exec=True,
            regions=REGIONS,
            warm_start_ms=300.0,
            regional_probe=False,
        )

    # -- create and look ---------------------------------------------------------------------

    def create(self, spec: InstanceSpec) -> Instance:
        from sprites.types import NetworkPolicy, PolicyRule, SpriteConfig, URLSettings

        launch = spec.launch
        for route in () if self._gateway is not None else _relayed(launch):
            if route.headers:
                raise ProviderError(
                    f"egress route {route.name!r} adds headers on the host side, which a remote "
                    "sandbox cannot honour yet",
                    provider=PROVIDER,
                )
        name = sprite_name(spec.idempotency_key)
        found = self.get(name)
        if found is not None and found.state is InstanceState.RUNNING:
            return found
        if found is None:
            labels = SpriteLabels(spec.labels, Mark.CREATING)
            config = SpriteConfig(
                cpus=max(1, math.ceil(spec.resources.cpus)),
                ram_mb=spec.resources.memory_mb,
                region=spec.region or self._region or None,
            )
            with translate("create", name):
                self._client.create_sprite(
                    name,
                    config=config,
                    labels=labels.to_vendor(),
                    url_settings=URLSettings(auth=self._url_auth),
                )
        sprite = self._client.sprite(name)
        address = self.gateway_address()
        if address is not None:
            # The gateway is the one way out: credentials are stamped there, not here.
            rules = [PolicyRule(domain=address.host, action="allow")] if launch.egress else []
        else:
            rules = [PolicyRule(domain=_host(r.upstream), action="allow") for r in _relayed(launch)]
        if rules:
            with translate("network policy", name):
                sprite.update_network_policy(NetworkPolicy(rules=rules))
        if launch.image is not None:
            self._install(sprite, launch)
        self._place(sprite, launch)
        health = f"{launch.start_timeout_s:g}:{launch.health_path}"
        return self._ready(name, launch, SpriteLabels(spec.labels, Mark.LIVE, health=health))

    def _install(self, sprite: Sprite, launch: LaunchSpec) -> None:
        """The runtime's artifact at its target: already there (a sprite's disk persists, and a
        base image may carry it), else built on first boot by its install command."""
        image = launch.image
        assert image is not None
        if self.exec(sprite.name, ["test", "-e", image.target]).exit_code == 0:
            return
        built = self.exec(sprite.name, list(image.install), timeout_s=900.0)
        if built.exit_code != 0:
            tail = (built.stderr or built.stdout).strip().splitlines()[-1:] or [""]
            raise RuntimeFailure(f"{sprite.name}: installing {image.ref} failed: {tail[0]}")

    def _place(self, sprite: Sprite, launch: LaunchSpec) -> None:
        """Write the runtime's files and start it as the sprite's Service."""
        fs = sprite.filesystem(RUNTIME_DIR)
        with translate("place runtime", sprite.name):
            for spec in launch.files:
                (fs / spec.name).write_bytes(spec.content, mode=spec.mode)
            argv = [_substitute(a) for a in launch.argv]
            env = {k: _substitute(v) for k, v in launch.env}
            env |= {
                "COMPUTEROUTER_PORT": str(launch.port),
                "COMPUTEROUTER_WORKSPACE": WORKSPACE,
                "COMPUTEROUTER_RUNTIME_DIR": RUNTIME_DIR,
            }
            address = self.gateway_address()
            if address is not None:
                env |= gateway_env(launch, address)
            else:
                for route in _relayed(launch):
                    env[f"COMPUTEROUTER_EGRESS_{route.name.upper()}"] = _hostport(route.upstream)
            self.register_routes(sprite.name, launch)
            # Output to a log file the provider serves as the session's own (``logs``).
            shell = f'exec "$@" >>{shlex.quote(SESSION_LOG)} 2>&1'
            sprite.create_service(
                SERVICE,
                "/bin/sh",
                ["-c", shell, "sh", *argv],
                http_port=launch.port,
                env=env,
                dir=WORKSPACE,
            )

    def _ready(self, name: str, launch: LaunchSpec, labels: SpriteLabels) -> Instance:
        """Wait until the runtime answers through the sprite URL, then record it live."""
        sprite = self._raw(name)
        endpoint = self._endpoint(sprite) if sprite is not None else None
        if endpoint is None:
            raise InstanceNotFound(provider=PROVIDER, instance_id=name)
        deadline = time.monotonic() + launch.start_timeout_s
        headers = dict(endpoint.headers)
        headers.update(self.boot_headers(name, labels.labels.session_id if labels.labels else ""))
        last = ""
        while True:
            try:
                answer = httpx.get(
                    endpoint.address + launch.health_path, headers=headers, timeout=5
                )
                if answer.status_code == 200:
                    break
                last = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"{name}: the runtime did not answer ({last})")
            time.sleep(0.1)
        self._label(name, labels)
        ready = self.get(name)
        if ready is None:
            raise InstanceNotFound(provider=PROVIDER, instance_id=name)
        return ready

    def _label(self, name: str, labels: SpriteLabels) -> None:
        with translate("label", name):
            self._client.update_sprite(name, labels=labels.to_vendor())

    def _labels(self, name: str) -> SpriteLabels:
        instance = self._raw(name)
        if instance is None:
            raise InstanceNotFound(provider=PROVIDER, instance_id=name)
        return SpriteLabels.from_vendor(instance.labels)

    def _raw(self, name: str) -> Sprite | None:
        if not name.startswith(PREFIX):
            return None
        try:
            with translate("get", name):
                return self._client.get_sprite(name)
        except InstanceNotFound:
            return None

    def get(self, instance_id: str) -> Instance | None:
        sprite = self._raw(instance_id)
        return None if sprite is None else self._instance(sprite)

    def _instance(self, sprite: Sprite) -> Instance | None:
        ours = SpriteLabels.from_vendor(sprite.labels)
        if ours.labels is None:
            return None
        state = instance_state(sprite.status or "", ours.mark)
        endpoint = self._endpoint(sprite) if state is not InstanceState.ARCHIVED else None
        return Instance(
            instance_id=sprite.name,
            provider=PROVIDER,
            state=state,
            labels=ours.labels,
            endpoint=endpoint,
            region=sprite.primary_region or "",
            archive_retained=bool(ours.checkpoint) and state is not InstanceState.ARCHIVED,
        )

    def _endpoint(self, sprite: Sprite) -> Endpoint | None:
        """The sprite URL; with URL auth ``sprite``, the token as bearer."""
        if not sprite.url:
            return None
        auth = sprite.url_settings.auth if sprite.url_settings else "sprite"
        headers = (("Authorization", f"Bearer {self._token}"),) if auth != "public" else ()
        return Endpoint(kind="http", address=sprite.url.rstrip("/"), headers=headers)

    def probe(self, region: str) -> None:
        """One page of at most one sprite of ours: the API answers and takes the token. The
        Sprites API is one endpoint for every region, so ``region`` does not change the call."""
        from sprites.types import ListOptions

        with translate("probe"):
            self._client.list_sprites(ListOptions(prefix=PREFIX, max_results=1))

    def list(self) -> Sequence[Instance]:
        with translate("list"):
            names = [s.name for s in self._client.list_all_sprites(prefix=PREFIX)]
        found = []
        for name in names:
            instance = self.get(name)
            if instance is not None:
                found.append(instance)
        return found

    # -- lifecycle ---------------------------------------------------------------------------

    def _require(self, instance_id: str) -> Instance:
        instance = self.get(instance_id)
        if instance is None:
            raise InstanceNotFound(provider=PROVIDER, instance_id=instance_id)
        return instance

    def suspend(self, instance_id: str) -> Instance:
        instance = self._require(instance_id)
        if instance.state is InstanceState.RUNNING:
            with translate("suspend", instance_id):
                self._client.sprite(instance_id).stop_service(SERVICE)
            self._label(instance_id, self._labels(instance_id).with_mark(Mark.SUSPENDED))
        return self._require(instance_id)

    def resume(self, instance_id: str) -> Instance:
        instance = self._require(instance_id)
        if instance.state is InstanceState.RUNNING:
            return instance
        return self._start(instance_id, self._labels(instance_id).with_mark(Mark.LIVE))

    def _start(
        self, instance_id: str, labels: SpriteLabels, launch: LaunchSpec | None = None
    ) -> Instance:
        sprite = self._client.sprite(instance_id)
        if launch is not None:
            self._place(sprite, launch)
        else:
            with translate("start", instance_id):
                sprite.start_service(SERVICE)
        if launch is None:
            timeout, _, path = labels.health.partition(":")
            launch = LaunchSpec(
                runtime="",
                argv=(),
                health_path=path or "/health",
                start_timeout_s=float(timeout) if timeout else 30.0,
            )
        return self._ready(instance_id, launch, labels)

    def archive(self, instance_id: str) -> Instance:
        instance = self._require(instance_id)
        if instance.state is InstanceState.ARCHIVED:
            return instance
        sprite = self._client.sprite(instance_id)
        with translate("archive", instance_id):
            for message in sprite.create_checkpoint("computerouter archive"):
                if message.type == "error":
                    raise ProviderError(
                        f"archive {instance_id}: {message.error}", provider=PROVIDER, retryable=True
                    )
            newest = max(sprite.list_checkpoints(), key=lambda c: c.create_time)
        # The checkpoint is durable and recorded before anything stops.
        self._label(instance_id, self._labels(instance_id).with_mark(Mark.ARCHIVED, newest.id))
        with translate("archive", instance_id):
            sprite.stop_service(SERVICE)
        return self._require(instance_id)

    def restore(self, instance_id: str, spec: InstanceSpec) -> Instance:
        instance = self._require(instance_id)
        labels = self._labels(instance_id)
        if instance.state is not InstanceState.ARCHIVED:
            return instance if instance.state is InstanceState.RUNNING else self.resume(instance_id)
        sprite = self._client.sprite(instance_id)
        with translate("restore", instance_id):
            for message in sprite.restore_checkpoint(labels.checkpoint):
                if message.type == "error":
                    raise ProviderError(
                        f"restore {instance_id}: {message.error}", provider=PROVIDER, retryable=True
                    )
        return self._start(instance_id, labels.with_mark(Mark.LIVE), spec.launch)

    def release_archive(self, instance_id: str) -> None:
        instance = self._require(instance_id)
        labels = self._labels(instance_id)
        if instance.state is InstanceState.ARCHIVED or not labels.checkpoint:
            return  # never the only copy
        self._label(instance_id, labels.with_mark(labels.mark or Mark.LIVE, ""))

    def destroy(self, instance_id: str) -> None:
        if not instance_id.startswith(PREFIX):
            return
        self.forget_routes(instance_id)
        try:
            with translate("destroy", instance_id):
                self._client.destroy_sprite(instance_id)
        except InstanceNotFound:
            return

    # -- inside ------------------------------------------------------------------------------

    def usage(self, instance_id: str) -> InstanceUsage:
        """The SDK reports no usage; the sprite's own cgroup does."""
        self._require(instance_id)
        stat = self.exec(instance_id, ["cat", "/sys/fs/cgroup/cpu.stat"])
        for line in stat.stdout.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec" and value.strip().isdigit():
                return InstanceUsage(cpu_seconds=int(value) / 1e6)
        return InstanceUsage(cpu_seconds=0.0)

    def exec(self, instance_id: str, argv: Sequence[str], *, timeout_s: float = 30.0) -> ExecResult:
        self._require(instance_id)
        with translate("exec", instance_id):
            done = self._client.sprite(instance_id).run(
                *argv, capture_output=True, timeout=timeout_s
            )
        return ExecResult(
            exit_code=done.returncode,
            stdout=(done.stdout or b"").decode(errors="replace"),
            stderr=(done.stderr or b"").decode(errors="replace"),
        )

    def logs(
        self, instance_id: str, *, lines: int = 100, follow: bool = False
    ) -> Iterator[LogLine]:
        instance = self._require(instance_id)
        if instance.state is InstanceState.ARCHIVED:
            checkpoint = self._labels(instance_id).checkpoint
            raise LogsArchived(
                instance_id=instance_id, location=f"checkpoint {checkpoint} of sprite {instance_id}"
            )
        return self._tail(instance_id, lines)

    def _tail(self, instance_id: str, lines: int) -> Iterator[LogLine]:
        if lines <= 0:
            return
        out = self.exec(instance_id, ["tail", "-n", str(lines), SESSION_LOG])
        for text in out.stdout.splitlines():
            yield LogLine(source="session", text=text)
        yield from self.gateway_log(instance_id, lines)


def _substitute(value: str) -> str:
    return value.replace("{runtime_dir}", RUNTIME_DIR).replace("{workspace}", WORKSPACE)


def _hostport(upstream: str) -> str:
    parsed = httpx.URL(upstream)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"{parsed.host}:{port}"


def _host(upstream: str) -> str:
    return httpx.URL(upstream).host


def _relayed(launch: LaunchSpec) -> tuple[EgressRoute, ...]:
    """The routes a sprite reaches over its network: no host-side gateway is reachable from a
    remote sandbox yet, so gateway routes are left out (its proxy variables lead nowhere), and
    so are routes stamping per-run credentials (the MCP host's)."""
    return tuple(route for route in launch.egress if not (route.gateway or route.per_run))
