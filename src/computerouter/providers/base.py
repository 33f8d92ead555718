"""The provider seam: where compute sessions run.

A provider is anything that can create, freeze, archive and destroy an isolated instance that
runs a runtime, and list the instances it holds by their labels. One package per provider
(``local``, later ``daytona``, ``fly_sprites``, ...) implements :class:`Provider`; vendor SDKs
are imported inside that package and nowhere else. Each provider translates vendor states to
:class:`~computerouter.domain.instances.InstanceState` in one pure function and vendor errors
to :class:`~computerouter.errors.ProviderError` in one place.

Contract (every provider passes ``tests/contract``):

- ``create(spec)`` is idempotent on ``spec.idempotency_key``: calling it again (after a crash,
  a retry, a timeout) finds the instance made before, by label, instead of making a second one.
  It returns once the runtime answers ``spec.launch.health_path`` on the instance's endpoint.
- ``destroy(id)`` removes every resource the instance holds; an instance already gone is fine.
- ``list()`` reports every instance the provider holds for this router, including partly made
  ones, with their labels, so a restarted control plane can adopt or reap them.
- ``suspend`` / ``resume`` / ``archive`` / ``restore`` are offered when ``capabilities`` says so.
- Data moves write-ahead, and each of these calls is safe to repeat after a crash at any point:
  ``archive`` makes the new copy complete and durable before it removes the old one, and
  finishes or undoes whatever an interrupted archive or restore left (a half-restored
  workspace is discarded, the archive it came from kept). ``restore`` keeps the archive it
  started from; the caller records the restored session running and only then calls
  ``release_archive``, which never removes the only copy of a workspace.
- ``logs(id, lines=N)`` yields the last ``N`` lines of each log the instance keeps: the output
  of its processes (source ``session``) first, then each of the runtime's ``log_files``. With
  ``follow`` it goes on yielding lines as they are written until the caller stops iterating
  (or the instance is destroyed). An archived instance raises
  :class:`~computerouter.errors.LogsArchived`, saying where its logs are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from computerouter.domain.egress import EgressMeter, EgressTurn
from computerouter.domain.instances import ExecResult, Instance, InstanceUsage
from computerouter.domain.logs import LogLine
from computerouter.domain.values import Labels, LaunchSpec, Resources

__all__ = [
    "Capabilities",
    "EgressControl",
    "HealthProbe",
    "InstanceSpec",
    "KeepAlive",
    "PooledInstance",
    "Provider",
    "RestoreStandby",
    "TurnIdentity",
    "WarmPool",
    "WorkspaceTransfer",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Capabilities:
    suspend: bool
    """Can freeze an instance in place and thaw it."""
    archive: bool
    """Can stop an instance, keep its workspace as an archive, and restore it later."""
    exec: bool
    """Can run a command inside an instance (operators' debugging; isolation tests)."""
    regions: tuple[str, ...] = ()
    """Regions served; empty means a single, unnamed region."""
    warm_start_ms: float = 0.0
    """Typical resume latency, advertised or measured; routing uses it."""
    max_sessions: int = 0
    """Live sessions this router may hold on the provider at once (a vendor's concurrency
    limit); 0: no limit. Placement spills past a provider holding this many."""
    regional_probe: bool = True
    """Whether a health probe of one region says nothing of the others (each region its own
    endpoint). False where every region is behind one API: one probe per pass answers for
    all of them."""


@dataclass(frozen=True, kw_only=True, slots=True)
class InstanceSpec:
    idempotency_key: str
    labels: Labels
    resources: Resources
    launch: LaunchSpec
    region: str = ""


@runtime_checkable
class Provider(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def create(self, spec: InstanceSpec) -> Instance: ...

    def get(self, instance_id: str) -> Instance | None: ...

    def list(self) -> Sequence[Instance]: ...

    def suspend(self, instance_id: str) -> Instance: ...

    def resume(self, instance_id: str) -> Instance: ...

    def archive(self, instance_id: str) -> Instance: ...

    def restore(self, instance_id: str, spec: InstanceSpec) -> Instance: ...

    def release_archive(self, instance_id: str) -> None:
        """The restored instance is recorded running: the archive it came from may go.
        A no-op where the vendor keeps archives itself, or when none is retained."""
        ...

    def destroy(self, instance_id: str) -> None: ...

    def usage(self, instance_id: str) -> InstanceUsage: ...

    def exec(
        self, instance_id: str, argv: Sequence[str], *, timeout_s: float = 30.0
    ) -> ExecResult: ...

    def logs(
        self, instance_id: str, *, lines: int = 100, follow: bool = False
    ) -> Iterator[LogLine]: ...


@runtime_checkable
class EgressControl(Protocol):
    """A provider whose sessions' egress relays follow each turn: the current endpoint, key
    and model, and the run's budget, pushed over a host-side channel the session cannot reach
    (``local``) or to the router's remote gateway (remote providers); and what a run spent
    through them."""

    def configure_egress(self, instance_id: str, route: str, turn: EgressTurn) -> None: ...

    def egress_meter(
        self, instance_id: str, route: str, run_id: str, *, end: bool = False
    ) -> EgressMeter: ...


@runtime_checkable
class TurnIdentity(Protocol):
    """A provider whose sessions' egress goes through the router's remote gateway
    (:mod:`computerouter.providers.egress.remote`): each turn, the session proves who it is
    with an identity the router mints for the run and sends with the turn's calls.

    - ``issue_identity`` mints one for ``run_id`` on the instance (the instance's earlier
      identities stop serving at once) and returns the headers to send with the turn's calls
      (empty where the instance's egress does not go through the gateway);
    - ``revoke_identity`` makes the run's identity stop serving it now (its end, a cancel);
      with other runs of the session still in flight (``active``), the session's identity
      goes on serving the latest of them (the bridge keeps only the latest identity). It also
      expires by itself at ``expires_at`` (the run's ceiling);
    - ``adopt_egress`` gives the gateway the routes of an instance this process did not
      place (one made before the control plane restarted), from the runtime's launch."""

    def adopt_egress(self, instance_id: str, launch: LaunchSpec) -> None: ...

    def issue_identity(
        self,
        instance_id: str,
        *,
        run_id: str,
        labels: tuple[tuple[str, str], ...],
        expires_at: float,
    ) -> tuple[tuple[str, str], ...]: ...

    def revoke_identity(
        self, instance_id: str, run_id: str, *, reason: str, active: tuple[str, ...] = ()
    ) -> None: ...


@runtime_checkable
class KeepAlive(Protocol):
    """A provider whose own idle timers cannot see a turn in flight (Daytona counts only API
    calls as activity): the router calls ``keep_alive`` while a run holds the instance."""

    def keep_alive(self, instance_id: str) -> None: ...


@runtime_checkable
class HealthProbe(Protocol):
    """A provider that can say, cheaply and without making a session, whether it can serve now:
    the lifecycle pass probes it to close (or open) its circuit without a user's request paying
    for it (:mod:`computerouter.compute.probes`).

    ``probe(region)`` returns when the provider could create a session in ``region`` (``""``:
    its default), and otherwise raises a :class:`~computerouter.errors.ProviderError`:
    retryable for what may pass (an outage, a rate limit, with ``retry_after_s`` when the vendor
    said), not retryable for what will not without an operator (a refused key, isolation
    missing). One cheap call: no sandbox is made, nothing is billed."""

    def probe(self, region: str) -> None: ...


@runtime_checkable
class WorkspaceTransfer(Protocol):
    """A provider that can hand a session's workspace over in a portable form and start a new
    session from one, so a session can move between providers (memory included).

    The portable form is a gzip-compressed tar of ``/workspace`` with paths relative to it,
    without the provider's own files (its copy of the runtime): any provider can unpack it.

    - ``export_workspace(id, dest)`` writes that copy to ``dest`` (complete and fsynced, or
      not there at all) and leaves the instance in the state it found it;
    - ``create_from_workspace(spec, source)`` is ``create`` whose workspace starts as the copy
      at ``source``, unpacked before the runtime starts (the copy is only read)."""

    def export_workspace(self, instance_id: str, dest: Path) -> None: ...

    def create_from_workspace(self, spec: InstanceSpec, source: Path) -> Instance: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class PooledInstance:
    """An instance waiting in a provider's warm pool."""

    instance_id: str
    session_id: str
    """The session it was booted for: the one whose id a claim gives the new session, so
    everything the runtime was started with (its key, its labels) is that session's."""
    runtime: str
    resources: Resources
    fingerprint: str
    """:func:`launch_fingerprint` of the launch it was booted with."""
    region: str = ""
    ready: bool = False
    """Booted, warmed and frozen: claimable. False while it is being made (or was left half
    made by a crash)."""
    created_at: float = 0.0


def launch_fingerprint(launch: LaunchSpec) -> str:
    """What a launch is, as a short digest: a pooled instance is claimed only for a launch with
    the same one (a changed model, image or runtime file means a fresh boot). Header values
    are left out (each turn sets the egress credentials again), their names are not."""
    parts = [
        launch.runtime,
        repr(launch.argv),
        repr(launch.env),
        repr([(f.name, hashlib.sha256(f.content).hexdigest(), f.mode) for f in launch.files]),
        repr([(m.source, m.target) for m in launch.all_mounts]),
        repr(
            [
                (r.name, r.upstream, [h for h, _ in r.headers], r.prefix, r.metered, r.gateway)
                for r in launch.egress
            ]
        ),
        repr([(r.allow, r.labels) for r in launch.egress]),
        launch.health_path,
        repr(launch.log_files),
        repr(launch.image),
        str(launch.port),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


@runtime_checkable
class WarmPool(Protocol):
    """A provider that keeps pre-booted instances, so a new session starts in milliseconds.

    - ``prepare(spec)`` boots an instance for the session ``spec.labels.session_id`` (which no
      session row holds yet; user and sandbox empty) and returns it running and ``pooled``;
      the caller lets the runtime do its lazy first-use set-up through its endpoint, then
    - ``park(id)`` freezes it and makes it claimable. A pooled instance is listed by
      ``pooled()`` and by ``list()`` (marked ``pooled``, so the reconciler leaves it to the
      pool);
    - ``claim(id, spec)`` hands the parked instance to the session ``spec`` describes: its
      labels and idempotency key bound, thawed, answering. ``None`` when it cannot (already
      claimed, not parked, gone, or booted with a launch other than ``spec.launch``). An
      instance is claimed at most once and leaves the pool for good; a claimed instance is
      what ``create`` would have made for ``spec``, and nothing of any other session is in it;
    - ``discard(id)`` destroys the instance if it is still pooled (never one a claim has
      taken in the meantime); ``False`` when it was not."""

    def prepare(self, spec: InstanceSpec) -> Instance: ...

    def park(self, instance_id: str) -> PooledInstance: ...

    def pooled(self) -> Sequence[PooledInstance]: ...

    def claim(self, instance_id: str, spec: InstanceSpec) -> Instance | None: ...

    def discard(self, instance_id: str) -> bool: ...


@runtime_checkable
class RestoreStandby(Protocol):
    """A :class:`WarmPool` whose pooled instances may be standbys (booted from a runtime's
    :meth:`~computerouter.runtimes.base.Standby.standby_launch_spec`), into which an archived
    instance is restored: ``restore_into(standby_id, instance_id, spec, start, egress)``
    unpacks the archive of ``instance_id`` into the standby, binds the standby to ``spec``'s
    session, points the ``egress`` routes and posts ``start`` to the runtime, returning the
    standby answering as the session's instance (or None when it cannot be used: a plain
    restore follows). The archived instance is left
    as it was; the caller destroys it once the session is recorded on the standby."""

    def restore_into(
        self,
        standby_id: str,
        instance_id: str,
        spec: InstanceSpec,
        start: Mapping[str, str],
        egress: Sequence[tuple[str, EgressTurn]] = (),
    ) -> Instance | None: ...
