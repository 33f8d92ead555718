"""The warm pool: sessions booted before anyone asks, so a new sandbox's first turn is warm.

For each ``warm_pool`` target (``PROVIDER:RUNTIME=SIZE``) on a provider that offers a
:class:`~computerouter.providers.base.WarmPool`, the lifecycle pass keeps ``SIZE`` instances
booted for session ids no session holds yet, the runtime's lazy first-use set-up done
(:class:`~computerouter.runtimes.base.WarmUp`), frozen so they use no CPU. Creating a session
takes one: the new session is given the pooled instance's session id, so the runtime was started
with exactly what ``create`` would have started it with (its key, its labels), and the claim
binds the rest (the user's labels) and thaws it. A claim that cannot be made (another caller
took it, the runtime's launch changed since) falls back to an ordinary create.

The pool shrinks to nothing when no session was created on its provider for
``warm_pool_idle_s``, and refills from the next pass after one is. Pooled instances are never
orphans to the reconciler; the pass here removes the ones no claim can use (a launch that
changed, a boot a crash left half done, a session id a crashed create had taken).

Restores have standbys of their own (``restore_pool``, same syntax): instances of a runtime that
is a :class:`~computerouter.runtimes.base.Standby`, started ahead of any workspace and frozen,
on a provider that is a :class:`~computerouter.providers.base.RestoreStandby`. Restoring an
archived session takes one (:meth:`WarmPools.restore`): the archive is unpacked into it, the
runtime told to go, and the session recorded on it (the archived instance destroyed after).
They are told apart from the warm pool's own by their launch's fingerprint, and kept at their
size by the same pass.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from computerouter.compute.owner import owner_alive
from computerouter.domain.egress import EgressBudget
from computerouter.domain.ids import new_session_id
from computerouter.domain.instances import Instance
from computerouter.domain.pool import PoolTarget
from computerouter.domain.states import SessionState
from computerouter.domain.values import Labels, LaunchSpec, Resources
from computerouter.errors import ComputeRouterError
from computerouter.providers.base import (
    EgressControl,
    InstanceSpec,
    PooledInstance,
    RestoreStandby,
    WarmPool,
    launch_fingerprint,
)
from computerouter.runtimes.base import AgentRuntime, ModelEgress, Standby, WarmUp
from computerouter.runtimes.transport import client_for

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter

__all__ = ["PoolReport", "PoolStatus", "WarmPools"]

log = logging.getLogger(__name__)

_NO_CREDIT = EgressBudget(run_id="warm-up", limit=0, input_per_mtok=1, output_per_mtok=1)
"""A pooled instance's model route while it warms up: its endpoint, with no credit, so its
relay refuses every model call before it leaves (nobody would pay for it) while the endpoint's
free metadata (``/models``) answers — so Hermes learns the model's context window then, not
by probing on the claiming session's first turn."""

_ABANDONED_BOOT_S = 600.0
"""A pooled instance still not parked this long after its boot began was left by a crash."""

POOL_RESOURCES = Resources()
"""What pooled instances are booted with: a session asking for other resources boots cold."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolStatus:
    """One pool as it is now."""

    provider: str
    runtime: str
    size: int
    """The configured size."""
    target: int
    """What the pool keeps now: ``size``, or 0 while idle."""
    ready: int
    booting: int
    idle_for_s: float
    """Since a session was last created on the provider (or the pool started)."""


@dataclass(kw_only=True, slots=True)
class PoolReport:
    booted: list[str] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class WarmPools:
    """The router's warm pools; state lives on the providers (and the store), not here."""

    def __init__(self, router: ComputeRouter) -> None:
        self._router = router
        self._started_at = router.clock.now()

    def targets(self) -> list[tuple[PoolTarget, WarmPool]]:
        """The configured targets whose provider is here and offers a pool."""
        found: list[tuple[PoolTarget, WarmPool]] = []
        for target in self._router.settings.warm_pool_targets:
            provider = self._router.providers.get(target.provider)
            if isinstance(provider, WarmPool) and target.runtime in self._router.runtimes:
                found.append((target, provider))
        return found

    def _pool(self, provider: str, runtime: str) -> WarmPool | None:
        for target, pool in self.targets():
            if target.provider == provider and target.runtime == runtime and target.size:
                return pool
        return None

    # -- taking from a pool (the create path) ------------------------------------------------

    def take(
        self, provider: str, runtime: str, resources: Resources, region: str
    ) -> PooledInstance | None:
        """A parked instance a new session of ``runtime`` on ``provider`` could claim."""
        pool = self._pool(provider, runtime)
        if pool is None or resources != POOL_RESOURCES:
            return None
        standby = self._standby_fingerprint(runtime)
        try:
            ready = [
                p
                for p in pool.pooled()
                if p.ready and p.runtime == runtime and p.resources == resources
                if p.fingerprint != standby and (not region or p.region in ("", region))
            ]
        except ComputeRouterError as exc:
            log.warning("cannot read the %s pool: %s", provider, exc)
            return None
        # Picked at random, so concurrent creators seldom reach for the same one.
        random.shuffle(ready)
        store = self._router.store
        return next((p for p in ready if store.sessions.get(p.session_id) is None), None)

    def claim(self, provider: str, pooled: PooledInstance, spec: InstanceSpec) -> Instance | None:
        """The pooled instance bound to ``spec``'s session; None (and a cold create follows)
        when it cannot be claimed."""
        pool = self._pool(provider, spec.launch.runtime)
        if pool is None:
            return None
        try:
            return pool.claim(pooled.instance_id, spec)
        except ComputeRouterError as exc:
            log.warning("claim of %s (%s pool) failed: %s", pooled.instance_id, provider, exc)
            return None

    # -- restoring into a standby (the restore path) -----------------------------------------

    def standby_targets(self) -> list[tuple[PoolTarget, WarmPool]]:
        """The configured ``restore_pool`` targets whose provider takes restores into standbys
        and whose runtime can be started as one."""
        found: list[tuple[PoolTarget, WarmPool]] = []
        for target in self._router.settings.restore_pool_targets:
            provider = self._router.providers.get(target.provider)
            runtime = self._router.runtimes.get(target.runtime)
            if (
                isinstance(provider, WarmPool)
                and isinstance(provider, RestoreStandby)
                and isinstance(runtime, Standby)
            ):
                found.append((target, provider))
        return found

    def _standby_fingerprint(self, runtime: str) -> str | None:
        found = self._router.runtimes.get(runtime)
        return (
            launch_fingerprint(found.standby_launch_spec()) if isinstance(found, Standby) else None
        )

    def restore(self, provider: str, instance_id: str, spec: InstanceSpec) -> Instance | None:
        """The archived ``instance_id`` restored into a parked standby of its runtime, bound to
        ``spec``'s session; None (and a plain restore follows) when there is none to use."""
        runtime = self._router.runtimes.get(spec.launch.runtime)
        pool = next(
            (
                p
                for t, p in self.standby_targets()
                if t.provider == provider and t.runtime == spec.launch.runtime and t.size
            ),
            None,
        )
        if pool is None or not isinstance(runtime, Standby) or spec.resources != POOL_RESOURCES:
            return None
        assert isinstance(pool, RestoreStandby)
        fingerprint = self._standby_fingerprint(spec.launch.runtime)
        try:
            ready = [p for p in pool.pooled() if p.ready and p.fingerprint == fingerprint]
        except ComputeRouterError as exc:
            log.warning("cannot read the %s standbys: %s", provider, exc)
            return None
        random.shuffle(ready)
        start = runtime.standby_start(spec.labels.session_id)
        egress = runtime.standby_egress()
        for standby in ready:
            try:
                instance = pool.restore_into(standby.instance_id, instance_id, spec, start, egress)
            except ComputeRouterError as exc:
                log.warning("restore into standby %s failed: %s", standby.instance_id, exc)
                return None
            if instance is not None:
                return instance
        return None

    # -- keeping the pools full (the lifecycle pass) -----------------------------------------

    def status(self) -> list[PoolStatus]:
        rows: list[PoolStatus] = []
        now = self._router.clock.now()
        for target, pool in self.targets():
            standby = self._standby_fingerprint(target.runtime)
            mine = [
                p for p in pool.pooled() if p.runtime == target.runtime and p.fingerprint != standby
            ]
            idle = now - self._last_demand(target.provider)
            rows.append(
                PoolStatus(
                    provider=target.provider,
                    runtime=target.runtime,
                    size=target.size,
                    target=self._target(target, idle),
                    ready=sum(1 for p in mine if p.ready),
                    booting=sum(1 for p in mine if not p.ready),
                    idle_for_s=idle,
                )
            )
        for target, pool in self.standby_targets():
            standby = self._standby_fingerprint(target.runtime)
            mine = [p for p in pool.pooled() if p.fingerprint == standby]
            rows.append(
                PoolStatus(
                    provider=target.provider,
                    runtime=f"{target.runtime} (restore)",
                    size=target.size,
                    target=target.size,
                    ready=sum(1 for p in mine if p.ready),
                    booting=sum(1 for p in mine if not p.ready),
                    idle_for_s=0.0,
                )
            )
        return rows

    def _providers(self) -> list[tuple[str, WarmPool]]:
        return [(n, p) for n, p in self._router.providers.items() if isinstance(p, WarmPool)]

    def holds_any(self) -> bool:
        """Whether some pool holds an instance (the lifecycle must go on, to shrink it)."""
        for _, pool in self._providers():
            try:
                if pool.pooled():
                    return True
            except ComputeRouterError:
                return True
        return False

    def maintain(self) -> PoolReport:
        """Discard what no claim can use (and what no target wants any more: a pool taken out
        of ``warm_pool``), shrink idle pools, refill the others."""
        report = PoolReport()
        now = self._router.clock.now()
        targets = self.targets()
        standbys = self.standby_targets()
        wanted = {(t.provider, t.runtime) for t, _ in (*targets, *standbys)}
        for name, pool in self._providers():
            try:
                for pooled in pool.pooled():
                    unwanted = (name, pooled.runtime) not in wanted
                    if unwanted and (pooled.ready or now - pooled.created_at > _ABANDONED_BOOT_S):
                        self._discard(name, pooled, report)
            except ComputeRouterError as exc:
                report.errors.append(f"pool {name}: {exc}")
        for target, pool in targets:
            try:
                self._maintain_one(target, pool, now, report)
            except ComputeRouterError as exc:
                report.errors.append(f"pool {target.provider}:{target.runtime}: {exc}")
        for target, pool in standbys:
            try:
                self._maintain_standbys(target, pool, now, report)
            except ComputeRouterError as exc:
                report.errors.append(f"standbys {target.provider}:{target.runtime}: {exc}")
        return report

    def _maintain_standbys(
        self, target: PoolTarget, pool: WarmPool, now: float, report: PoolReport
    ) -> None:
        runtime = self._router.runtime(target.runtime)
        assert isinstance(runtime, Standby)
        launch = runtime.standby_launch_spec()
        fingerprint = launch_fingerprint(launch)
        keep = 0
        for pooled in pool.pooled():
            if pooled.runtime != target.runtime:
                continue
            if pooled.fingerprint != fingerprint:
                # A standby of an older launch (not the warm pool's own: it matches its id's).
                session_launch = runtime.launch_spec(session_id=pooled.session_id)
                if pooled.ready and pooled.fingerprint != launch_fingerprint(session_launch):
                    self._discard(target.provider, pooled, report)
                continue
            if not pooled.ready and now - pooled.created_at > 2 * launch.start_timeout_s:
                self._discard(target.provider, pooled, report)
            else:
                keep += 1
        for _ in range(max(0, target.size - keep)):
            instance = pool.prepare(_pooled_spec(new_session_id(), launch))
            try:
                pool.park(instance.instance_id)
            except BaseException:
                self._router.provider(target.provider).destroy(instance.instance_id)
                raise
            report.booted.append(instance.instance_id)

    def _maintain_one(
        self, target: PoolTarget, pool: WarmPool, now: float, report: PoolReport
    ) -> None:
        runtime = self._router.runtime(target.runtime)
        boot_timeout = 2 * runtime.launch_spec(session_id="ses_fingerprint").start_timeout_s
        keep: list[PooledInstance] = []
        standby = self._standby_fingerprint(target.runtime)
        for pooled in pool.pooled():
            if pooled.runtime != target.runtime or pooled.fingerprint == standby:
                continue  # another runtime's, or a standby (kept for restores)
            current = launch_fingerprint(runtime.launch_spec(session_id=pooled.session_id))
            unusable = (
                pooled.fingerprint != current
                or self._taken(pooled.session_id, now)
                or (not pooled.ready and now - pooled.created_at > boot_timeout)
            )
            if unusable:
                self._discard(target.provider, pooled, report)
            else:
                keep.append(pooled)
        want = self._target(target, now - self._last_demand(target.provider))
        ready = sorted((p for p in keep if p.ready), key=lambda p: p.created_at)
        for pooled in ready[: max(0, len(keep) - want)]:
            self._discard(target.provider, pooled, report)
        for _ in range(max(0, want - len(keep))):
            report.booted.append(self._boot(target, pool))

    def _boot(self, target: PoolTarget, pool: WarmPool) -> str:
        runtime = self._router.runtime(target.runtime)
        session_id = new_session_id()
        instance = pool.prepare(
            _pooled_spec(session_id, runtime.launch_spec(session_id=session_id))
        )
        try:
            provider = self._router.provider(target.provider)
            if isinstance(runtime, ModelEgress) and isinstance(provider, EgressControl):
                # No model call leaves during the warm-up (see _NO_CREDIT); the first turn
                # of the claiming session sets the route's budget (and forgets this one).
                route, turn = runtime.model_egress()
                provider.configure_egress(
                    instance.instance_id, route, replace(turn, budget=_NO_CREDIT)
                )
            if isinstance(runtime, WarmUp) and instance.endpoint is not None:
                headers: dict[str, str] = (
                    runtime.headers(session_id) if isinstance(runtime, AgentRuntime) else {}
                )
                with client_for(instance.endpoint) as client:
                    client.headers.update(headers)
                    runtime.warm_up(client)
            pool.park(instance.instance_id)
        except BaseException:
            self._router.provider(target.provider).destroy(instance.instance_id)
            raise
        return instance.instance_id

    def _discard(self, provider: str, pooled: PooledInstance, report: PoolReport) -> None:
        pool = self._router.provider(provider)
        assert isinstance(pool, WarmPool)
        if pool.discard(pooled.instance_id):
            report.discarded.append(f"{provider}:{pooled.instance_id}")

    def _taken(self, session_id: str, now: float) -> bool:
        """Whether a session holds this id and no live create is about to claim it (a create
        that crashed between its insert and its claim leaves such an instance behind)."""
        record = self._router.store.sessions.get(session_id)
        if record is None:
            return False
        return record.state is not SessionState.PROVISIONING or not owner_alive(
            record.owner, lease_expires_at=record.lease_expires_at, now=now
        )

    def _target(self, target: PoolTarget, idle_s: float) -> int:
        return target.size if idle_s < self._router.settings.warm_pool_idle_s else 0

    def _last_demand(self, provider: str) -> float:
        """When a session was last created on ``provider``, or the pool started if later."""
        latest = self._started_at
        for record in self._router.store.sessions.list(provider=provider):
            latest = max(latest, record.created_at)
        return latest


def _pooled_spec(session_id: str, launch: LaunchSpec) -> InstanceSpec:
    """A pooled instance's create: no user, no sandbox yet, the pool's resources."""
    return InstanceSpec(
        idempotency_key=session_id,
        labels=Labels(session_id=session_id, user_id="", sandbox_id=""),
        resources=POOL_RESOURCES,
        launch=launch,
    )
