"""Frozen value objects shared by every layer: keys, resources, labels, endpoints, launch specs."""

from __future__ import annotations

from dataclasses import dataclass

from computerouter.domain.gateway import AllowRule
from computerouter.domain.ids import is_valid_key_part
from computerouter.errors import InputError

__all__ = [
    "EgressRoute",
    "Endpoint",
    "FileSpec",
    "Labels",
    "LaunchSpec",
    "MountSpec",
    "Resources",
    "SessionKey",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionKey:
    """The slot a compute session fills: at most one live session per key."""

    user_id: str
    sandbox_id: str

    def __post_init__(self) -> None:
        for name in ("user_id", "sandbox_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not is_valid_key_part(value):
                raise InputError(
                    f"{name} {value!r} is not valid: use 1-128 of letters, digits, '.', '_', '-'"
                )

    def __str__(self) -> str:
        return f"{self.user_id}/{self.sandbox_id}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Resources:
    """What one session may use. Local sessions enforce these as cgroup limits."""

    cpus: float = 1.0
    memory_mb: int = 2048
    pids: int = 512

    def __post_init__(self) -> None:
        if not 0.05 <= self.cpus <= 64:
            raise InputError(f"cpus must be between 0.05 and 64, not {self.cpus}")
        if not 64 <= self.memory_mb <= 1_048_576:
            raise InputError(f"memory_mb must be between 64 and 1048576, not {self.memory_mb}")
        if not 16 <= self.pids <= 65_536:
            raise InputError(f"pids must be between 16 and 65536, not {self.pids}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Labels:
    """Metadata every instance carries on its provider, so the provider can list it after a
    restart of the control plane and cost can be attributed: the seed's metadata tags."""

    session_id: str
    user_id: str
    sandbox_id: str
    agent_id: str = ""
    run_id: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "session_id": self.session_id,
            "user_id": self.user_id,
            "sandbox_id": self.sandbox_id,
            "agent_id": self.agent_id,
            "run_id": self.run_id,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, str]) -> Labels:
        return cls(
            session_id=str(raw["session_id"]),
            user_id=str(raw["user_id"]),
            sandbox_id=str(raw["sandbox_id"]),
            agent_id=str(raw.get("agent_id", "")),
            run_id=str(raw.get("run_id", "")),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Endpoint:
    """How the router reaches the runtime in a session.

    ``unix``: ``address`` is a host path of a unix socket (local sessions; no TCP port).
    ``http``: ``address`` is a base URL (remote providers), with optional headers to send.
    """

    kind: str
    address: str
    headers: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return f"unix:{self.address}" if self.kind == "unix" else self.address


@dataclass(frozen=True, kw_only=True, slots=True)
class FileSpec:
    """A file the runtime needs, written read-only into the session's runtime directory."""

    name: str
    content: bytes
    mode: int = 0o644


@dataclass(frozen=True, kw_only=True, slots=True)
class MountSpec:
    """A host directory made visible read-only inside the session (a shared runtime image)."""

    source: str
    target: str


@dataclass(frozen=True, kw_only=True, slots=True)
class EgressRoute:
    """One way out of a session that has no network: a unix socket ``name``.sock in the
    session's socket directory, relayed by the provider on the host side to ``upstream`` and
    to nothing else. ``headers`` are added on the host side (the model's API key, say), so
    secrets never enter the session."""

    name: str
    upstream: str
    headers: tuple[tuple[str, str], ...] = ()
    prefix: str = ""
    """Path the session calls under (replaced by the upstream's path); '' = the upstream's."""
    metered: bool = False
    """Model calls are charged to the run in flight (see
    :mod:`computerouter.domain.egress`); none is let out when no run holds credit."""
    gateway: bool = False
    """An HTTP forward proxy (absolute-URI requests and CONNECT) to the destinations
    ``allow`` names, instead of a relay to ``upstream`` (:mod:`computerouter.domain.gateway`)."""
    allow: tuple[AllowRule, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    """Who the session is (``session``, ``sandbox``), written on each line the route logs."""
    per_run: bool = False
    """The credentials come with each run's turn (its own bearer) and go when it ends; with
    no run in flight none is sent, and the session's own ``Authorization`` never goes out."""

    def __repr__(self) -> str:  # never print the headers: they hold credentials
        return f"EgressRoute(name={self.name!r}, upstream={self.upstream!r}, headers=<redacted>)"


@dataclass(frozen=True, kw_only=True, slots=True)
class RuntimeImage:
    """What a runtime is made of, apart from where it runs: a pinned artifact whose files must
    be at ``target`` in the session. How it gets there is the provider's business: ``local``
    mounts ``host_path`` (built on this machine) read-only; a remote provider boots from its
    snapshot or image named :attr:`ref`, or runs ``install`` on first boot and keeps the result."""

    name: str
    version: str
    target: str
    install: tuple[str, ...]
    """argv that builds the artifact at ``target`` inside a session that can reach PyPI."""
    host_path: str = ""
    """A built copy on this machine, if any."""

    @property
    def ref(self) -> str:
        """The snapshot or image name a provider keeps this artifact under."""
        return f"computerouter-{self.name}-{self.version}"


@dataclass(frozen=True, kw_only=True, slots=True)
class LaunchSpec:
    """How to start a runtime in a fresh session; built by a runtime, carried out by a provider.

    The provider sets ``COMPUTEROUTER_WORKSPACE`` and ``COMPUTEROUTER_RUNTIME_DIR`` (where
    ``files`` were written) in the environment, and where the runtime must listen: the unix
    socket ``COMPUTEROUTER_SOCKET`` where the provider reaches sessions through the host
    (``local``), or TCP ``COMPUTEROUTER_PORT`` (= ``port``) where it reaches them over the
    network (remote providers). Each egress route is a host-side unix socket on ``local``; a
    remote provider names the router's remote gateway in ``COMPUTEROUTER_EGRESS_<NAME>``
    (``host:port``) and lets the session reach it alone through its network allow list (the
    route lives at the gateway, :mod:`computerouter.providers.egress.remote`). ``argv`` may
    name ``{runtime_dir}`` and ``{workspace}``.
    """

    runtime: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    files: tuple[FileSpec, ...] = ()
    mounts: tuple[MountSpec, ...] = ()
    egress: tuple[EgressRoute, ...] = ()
    health_path: str = "/health"
    start_timeout_s: float = 30.0
    log_files: tuple[str, ...] = ()
    """Log files the runtime writes, as paths relative to the workspace (``.hermes/logs/
    gateway.log``); a provider serves them beside the session's own output."""
    image: RuntimeImage | None = None
    """The runtime's own files, placed by the provider (see :class:`RuntimeImage`)."""
    port: int = 8080
    """The TCP port the runtime listens on where the provider reaches sessions over TCP."""

    @property
    def all_mounts(self) -> tuple[MountSpec, ...]:
        """``mounts``, and the image's built copy at its target where there is one (``local``)."""
        image = self.image
        if image is None or not image.host_path:
            return self.mounts
        return (*self.mounts, MountSpec(source=image.host_path, target=image.target))
