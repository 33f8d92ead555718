"""ComputeRouter: one live compute session per (user_id, sandbox_id), made or revived on demand.

``ensure_session`` is the heart of it. For a key it finds the live session and

- ``running``: uses it;
- ``suspended``: thaws it;
- ``archived``: restores it;
- none: creates one on a provider;
- mid-operation by someone else: waits for that operation, or, when its owner has died,
  converges the session itself (see :mod:`computerouter.compute.reconciler`).

Concurrent callers for one key, in one process or in many sharing a database, end up with
exactly one session: the store admits one ``provisioning`` row per key, and every later state
change is a compare-and-set that only one caller can win.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress

from computerouter.compute.create import create_with_failover
from computerouter.compute.gates import Gates
from computerouter.compute.health import ProviderHealth
from computerouter.compute.liveness import Keepalive
from computerouter.compute.move import revive_or_move
from computerouter.compute.offers import ProviderRequest, resolve
from computerouter.compute.owner import current_owner, owner_alive
from computerouter.compute.pool import WarmPools
from computerouter.compute.portable import PortableCopies
from computerouter.compute.reconciler import converge_abandoned
from computerouter.compute.runs import RunLease, hold_run
from computerouter.compute.runtime_switch import SWITCHABLE_STATES, switch_runtime
from computerouter.config import Settings
from computerouter.domain.clock import Clock, SystemClock
from computerouter.domain.instances import Instance, InstanceState
from computerouter.domain.session import SessionRecord
from computerouter.domain.states import SessionState, require_transition
from computerouter.domain.values import Resources, SessionKey
from computerouter.errors import (
    ComputeRouterError,
    Conflict,
    InputError,
    ProviderError,
    ProviderUnavailable,
    SessionDataKept,
    SessionUnavailable,
    StaleState,
)
from computerouter.faults import failpoint
from computerouter.ledger.gate import CreditGate
from computerouter.providers.base import InstanceSpec, Provider
from computerouter.runtimes.base import Runtime
from computerouter.store import Store, Transition

__all__ = ["ComputeRouter", "RunLease"]  # RunLease re-exported from .runs

S = SessionState


class ComputeRouter:
    def __init__(
        self,
        *,
        store: Store,
        providers: Mapping[str, Provider],
        runtimes: Mapping[str, Runtime],
        settings: Settings,
        clock: Clock | None = None,
        owner: str | None = None,
        credit_gate: CreditGate | None = None,
    ) -> None:
        self.store = store
        self.providers = providers
        self.runtimes = dict(runtimes)
        self.settings = settings
        self.clock = clock or SystemClock()
        self.owner = owner or current_owner()
        # Holds credit before each run and bills it after (the ledger); None: no billing.
        self.credit_gate = credit_gate
        # Callers in this process queue per key instead of polling the database; an entry
        # lives only while someone holds or waits for it.
        self._key_locks: dict[SessionKey, tuple[threading.Lock, int]] = {}
        self._key_locks_guard = threading.Lock()
        # Heartbeats this process's runs and renews its leases while it works.
        self.keepalive = Keepalive(self)
        # The kill switch and per-user caps, checked before anything is provisioned.
        self.gates = Gates(self)
        # One circuit per provider and region, shared through the store.
        self.health = ProviderHealth(self)
        # Workspaces of archived sessions, kept so a session can move off a provider that is down.
        self.copies = PortableCopies(self)
        # Pre-booted instances a new session claims instead of booting (off by default).
        self.pool = WarmPools(self)

    # -- the main entry point ---------------------------------------------------------------

    def ensure_session(
        self,
        key: SessionKey,
        *,
        provider: ProviderRequest = None,
        runtime: str | None = None,
        resources: Resources | None = None,
        region: str = "",
        agent_id: str = "",
        run_id: str = "",
        move_when_down: bool = False,
    ) -> SessionRecord:
        """Return a running session for ``key``, creating, thawing or restoring it as needed.

        ``provider`` is one name, names or placed candidates in order (none: see
        :func:`.offers.resolve`): a new session is created on the first that is not cooling
        down and can create it, failing over down the list (a live session is sticky).

        ``runtime`` names the runtime the caller needs; a live session running another one is
        switched to it, keeping its workspace (see :mod:`.runtime_switch`). Without it, a new
        session starts ``settings.default_runtime`` and a live one is used as it is.

        ``move_when_down``: an archived session whose provider is down moves to the first of
        the candidates that can take it (see :mod:`.move`) instead of waiting for it.
        """
        pairs = resolve(self, provider, region, resources)
        for name, _ in pairs:
            self.provider(name)
        allowed = self.gates.admit(key.user_id, [name for name, _ in pairs])
        pairs = tuple(p for p in pairs if p[0] in allowed)
        runtime_name = runtime or self.settings.default_runtime
        self.runtime(runtime_name)
        with self._key_lock(key):
            return self._ensure(
                key,
                providers=pairs,
                runtime_name=runtime_name,
                runtime_required=runtime is not None,
                resources=resources or Resources(),
                agent_id=agent_id,
                run_id=run_id,
                move_when_down=move_when_down,
            )

    def _ensure(
        self,
        key: SessionKey,
        *,
        providers: tuple[tuple[str, str], ...],
        runtime_name: str,
        runtime_required: bool,
        resources: Resources,
        agent_id: str,
        run_id: str,
        move_when_down: bool = False,
    ) -> SessionRecord:
        deadline = self.clock.now() + self.settings.wait_timeout_s
        pause = 0.002
        while True:
            record = self.store.sessions.find_live(key)
            if record is not None:
                self.gates.require_provider(record.provider)  # live sessions are sticky
            try:
                if record is None:
                    self._refuse_if_data_kept(key)
                    made = create_with_failover(
                        self, key, providers, runtime_name, resources, agent_id, run_id
                    )
                    if made is not None:
                        return made
                elif (
                    runtime_required
                    and record.runtime != runtime_name
                    and record.state in SWITCHABLE_STATES
                ):
                    switch_runtime(self, record, runtime_name)
                    continue
                elif record.state is S.RUNNING:
                    # The warm path: one read above, and the activity debounced (no write
                    # per call; the lifecycle pass flushes it before deciding anything). A
                    # run's own row labels the session (SessionStore.begin_run).
                    if not run_id:
                        self.store.sessions.record_activity(
                            record.id, now=self.clock.now(), agent_id=agent_id
                        )
                    return record
                elif record.state in (S.SUSPENDED, S.ARCHIVED):
                    revived = revive_or_move(self, record, providers if move_when_down else None)
                    if agent_id or run_id:
                        self.store.sessions.touch(
                            revived.id, now=self.clock.now(), agent_id=agent_id, run_id=run_id
                        )
                    return revived
                elif not owner_alive(
                    record.owner, lease_expires_at=record.lease_expires_at, now=self.clock.now()
                ):
                    converge_abandoned(self, record)
                    continue
            except StaleState:
                pass  # someone else moved the session first; look again
            if self.clock.now() > deadline:
                state = "none" if record is None else record.state.value
                raise SessionUnavailable(
                    f"timed out waiting for session of {key} (last seen: {state})"
                )
            self.clock.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _revive(self, record: SessionRecord) -> SessionRecord:
        """Thaw a suspended session or restore an archived one. Raises StaleState if beaten.

        A restore is write-ahead: the provider keeps the archive it restored from until the
        session is recorded running here; only then is the archive released. A crash at any
        step leaves either the archive or the recorded, running workspace (see the reconciler).
        """
        origin = record.state
        step = "resume" if origin is S.SUSPENDED else "restore"
        claimed = self._claim(record, S.RESUMING, reason=f"resume from {origin.value}")
        failpoint(f"{step}.claimed")
        provider = self.provider(record.provider)
        assert claimed.instance_id is not None
        try:
            with self.keepalive.lease(claimed.id):
                if origin is S.SUSPENDED:
                    instance = provider.resume(claimed.instance_id)
                else:
                    spec = self.instance_spec(claimed)
                    instance = self.pool.restore(
                        claimed.provider, claimed.instance_id, spec
                    ) or provider.restore(claimed.instance_id, spec)
        except ComputeRouterError as exc:
            self._rollback(claimed, S.RESUMING, origin, exc)
            raise SessionUnavailable(f"could not resume session {record.id}: {exc}") from exc
        failpoint(f"{step}.provider_done")
        # Restored into a standby: the session's instance is the standby from here on.
        moved = instance.instance_id != claimed.instance_id
        running = self._settle(
            claimed,
            S.RESUMING,
            S.RUNNING,
            Transition(
                instance_id=instance.instance_id if moved else None,
                endpoint=instance.endpoint,
                release_lease=True,
                touch=True,
                reason="restored into a standby" if moved else "resumed",
            ),
        )
        if origin is S.ARCHIVED:
            failpoint("restore.recorded")
            if moved:
                # The archived instance (and its archive) is no one's now; what fails here
                # the reconciler destroys as an orphan.
                with suppress(ComputeRouterError):
                    provider.destroy(claimed.instance_id)
            else:
                self.release_archive(running)
            self.copies.drop(running.id)
        return running

    def release_archive(self, record: SessionRecord) -> bool:
        """Let the provider drop the archive a recorded, running session was restored from.
        Best effort: what fails here is retried by the reconciler."""
        if record.instance_id is None:
            return False
        try:
            self.provider(record.provider).release_archive(record.instance_id)
        except ComputeRouterError:
            return False
        return True

    # -- operator actions --------------------------------------------------------------------

    def get(self, session_id: str) -> SessionRecord:
        return self.store.sessions.require(session_id)

    def suspend(self, session_id: str, *, reason: str = "operator") -> SessionRecord:
        record = self.get(session_id)
        require_transition(record.state, S.SUSPENDING, session_id=session_id)
        provider = self.provider(record.provider)
        if not provider.capabilities.suspend:
            raise ProviderUnavailable("cannot suspend sessions", provider=provider.name)
        claimed = self._claim(record, S.SUSPENDING, reason=reason)
        self._refuse_if_busy(claimed, S.RUNNING, "suspend")
        failpoint("suspend.claimed")
        assert claimed.instance_id is not None
        try:
            provider.suspend(claimed.instance_id)
        except ComputeRouterError:
            self._rollback(claimed, S.SUSPENDING, S.RUNNING, None)
            raise
        failpoint("suspend.provider_done")
        return self._settle(
            claimed, S.SUSPENDING, S.SUSPENDED, Transition(release_lease=True, reason=reason)
        )

    def resume(self, session_id: str) -> SessionRecord:
        record = self.get(session_id)
        if record.state is S.RUNNING:
            return record
        require_transition(record.state, S.RESUMING, session_id=session_id)
        return self._revive(record)

    def archive(self, session_id: str, *, reason: str = "operator") -> SessionRecord:
        record = self.get(session_id)
        require_transition(record.state, S.ARCHIVING, session_id=session_id)
        provider = self.provider(record.provider)
        if not provider.capabilities.archive:
            raise ProviderUnavailable("cannot archive sessions", provider=provider.name)
        origin = record.state
        claimed = self._claim(record, S.ARCHIVING, reason=reason)
        self._refuse_if_busy(claimed, origin, "archive")
        failpoint("archive.claimed")
        assert claimed.instance_id is not None
        self.copies.take(claimed)
        try:
            with self.keepalive.lease(claimed.id):
                provider.archive(claimed.instance_id)
        except ComputeRouterError:
            self._rollback(claimed, S.ARCHIVING, origin, None)
            raise
        failpoint("archive.provider_done")
        return self._settle(
            claimed,
            S.ARCHIVING,
            S.ARCHIVED,
            Transition(release_lease=True, clear_endpoint=True, reason=reason),
        )

    def recover(self, session_id: str) -> SessionRecord:
        """Bring a failed session whose workspace the provider still keeps as an archive back
        to ``archived``, so the next run restores it (memory included)."""
        record = self.get(session_id)
        require_transition(record.state, S.ARCHIVED, session_id=session_id)
        if self._kept_archive(record) is None:
            raise Conflict(
                f"session {session_id} keeps no archive; nothing to recover (destroy it instead)"
            )
        live = self.store.sessions.find_live(record.key)
        if live is not None:
            raise Conflict(
                f"sandbox {record.sandbox_id} of {record.user_id} already has a live session "
                f"({live.id}); destroy it first to recover {session_id}"
            )
        return self.store.sessions.transition(
            session_id,
            expected=S.FAILED,
            target=S.ARCHIVED,
            now=self.clock.now(),
            changes=Transition(release_lease=True, clear_endpoint=True, reason="recovered"),
        )

    def destroy(self, session_id: str, *, reason: str = "operator") -> SessionRecord:
        record = self.get(session_id)
        if record.state is S.DESTROYED:
            return record
        require_transition(record.state, S.DESTROYING, session_id=session_id)
        claimed = self._claim(record, S.DESTROYING, reason=reason)
        self.destroy_instance(claimed)
        self.copies.drop(claimed.id)
        return self._settle(
            claimed,
            S.DESTROYING,
            S.DESTROYED,
            Transition(release_lease=True, clear_endpoint=True, reason=reason),
        )

    # -- runs ---------------------------------------------------------------------------------

    def open_run(
        self,
        key: SessionKey,
        *,
        run_id: str,
        agent_id: str = "",
        provider: ProviderRequest = None,
        runtime: str | None = None,
        resources: Resources | None = None,
        region: str = "",
        on_cancel: Callable[[str], None] | None = None,
        move_when_down: bool = False,
    ) -> AbstractContextManager[RunLease]:
        """Ensure a session and hold it busy for one run (see :func:`.runs.hold_run`).
        ``on_cancel(reason)`` is called if the run is asked to stop (``pause --now``)."""
        return hold_run(
            self,
            key,
            run_id=run_id,
            agent_id=agent_id,
            provider=provider,
            runtime=runtime,
            resources=resources,
            region=region,
            on_cancel=on_cancel,
            move_when_down=move_when_down,
        )

    # -- helpers ------------------------------------------------------------------------------

    def provider(self, name: str) -> Provider:
        try:
            return self.providers[name]
        except KeyError:
            known = ", ".join(sorted(self.providers)) or "none"
            raise InputError(f"unknown provider {name!r} (configured: {known})") from None

    def runtime(self, name: str) -> Runtime:
        try:
            return self.runtimes[name]
        except KeyError:
            known = ", ".join(sorted(self.runtimes)) or "none"
            raise InputError(f"unknown runtime {name!r} (available: {known})") from None

    def instance_spec(self, record: SessionRecord) -> InstanceSpec:
        return InstanceSpec(
            idempotency_key=record.id,
            labels=record.labels,
            resources=record.resources,
            launch=self.runtime(record.runtime).launch_spec(session_id=record.id),
            region=record.region,
        )

    def _claim(self, record: SessionRecord, target: SessionState, *, reason: str) -> SessionRecord:
        now = self.clock.now()
        return self.store.sessions.transition(
            record.id,
            expected=record.state,
            target=target,
            now=now,
            changes=Transition(
                owner=self.owner, lease_expires_at=now + self.settings.lease_s, reason=reason
            ),
        )

    def _settle(
        self,
        record: SessionRecord,
        expected: SessionState,
        target: SessionState,
        changes: Transition,
    ) -> SessionRecord:
        try:
            return self.store.sessions.transition(
                record.id, expected=expected, target=target, now=self.clock.now(), changes=changes
            )
        except StaleState:
            # Our operation was taken over (we looked dead, or an operator destroyed it).
            current = self.get(record.id)
            if current.state is target:
                return current
            raise

    def _rollback(
        self,
        record: SessionRecord,
        expected: SessionState,
        target: SessionState,
        exc: ComputeRouterError | None,
    ) -> None:
        with suppress(StaleState):
            self.store.sessions.transition(
                record.id,
                expected=expected,
                target=target,
                now=self.clock.now(),
                changes=Transition(
                    release_lease=True,
                    error=None if exc is None else str(exc),
                    reason="rolled back",
                ),
            )

    def _fail(self, record: SessionRecord, expected: SessionState, exc: Exception) -> None:
        with suppress(StaleState):
            self.store.sessions.transition(
                record.id,
                expected=expected,
                target=S.FAILED,
                now=self.clock.now(),
                changes=Transition(release_lease=True, error=str(exc), reason="failed"),
            )

    def destroy_instance(self, record: SessionRecord) -> None:
        provider = self.provider(record.provider)
        instance_id = record.instance_id
        if instance_id is None:
            # A crash between insert and create: find the instance by its idempotency key.
            for instance in provider.list():
                if instance.labels.session_id == record.id:
                    provider.destroy(instance.instance_id)
            return
        try:
            provider.destroy(instance_id)
        except ProviderError as exc:
            self._fail(record, S.DESTROYING, exc)
            raise

    def _kept_archive(self, record: SessionRecord) -> Instance | None:
        """The archived instance a failed session still holds, if its provider keeps one."""
        if record.instance_id is None:
            return None
        try:
            instance = self.provider(record.provider).get(record.instance_id)
        except ComputeRouterError:
            return None
        if instance is None or instance.state is not InstanceState.ARCHIVED:
            return None
        return instance

    def _refuse_if_data_kept(self, key: SessionKey) -> None:
        """Never start a sandbox over silently while its last session's memory is kept."""
        failed = self.store.sessions.list(
            user_id=key.user_id, sandbox_id=key.sandbox_id, states=[S.FAILED]
        )
        for record in reversed(failed):
            if self._kept_archive(record) is not None:
                raise SessionDataKept(session_id=record.id, key=str(key), error=record.error or "")

    def _refuse_if_busy(self, claimed: SessionRecord, origin: SessionState, action: str) -> None:
        """Called after claiming the session, so a run that began meanwhile is seen."""
        in_flight = self.store.runs.in_flight(claimed.id)
        if in_flight:
            self._rollback(claimed, claimed.state, origin, None)
            raise Conflict(
                f"session {claimed.id} has a run in flight ({in_flight[0].run_id}); "
                f"it cannot {action} now"
            )

    @contextmanager
    def _key_lock(self, key: SessionKey) -> Iterator[None]:
        with self._key_locks_guard:
            lock, users = self._key_locks.get(key, (threading.Lock(), 0))
            self._key_locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._key_locks_guard:
                lock, users = self._key_locks[key]
                if users == 1:
                    del self._key_locks[key]
                else:
                    self._key_locks[key] = (lock, users - 1)
