"""Gates before any provisioning: the kill switch (global, per-user, per-provider pause) and
hard per-user caps (runs in flight, live sessions), composed in one place.

Permit-style, like Temporal's slot suppliers: a run reserves its permits before a session is
touched and releases them when it ends; the credit gate (the ledger's hold) comes after these
and is composed in :func:`~computerouter.compute.runs.hold_run`. A refusal is a typed error
with a stable code (:class:`~computerouter.errors.Paused`,
:class:`~computerouter.errors.CapReached`) and changes nothing.

Pauses are read from the store, cached for at most ``PAUSE_CACHE_S``, so a pause set on one
replica refuses runs on every other within a second. ``pause --now`` also marks the runs in
flight in its scope; each run's control plane sees the mark within a second (its keepalive)
and cancels the run with the pause's reason.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from computerouter.domain.gates import Pause, PauseMode, PauseScope, ScopeKind
from computerouter.errors import Paused
from computerouter.store.gates import GateStore

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter

__all__ = ["PAUSE_CACHE_S", "Gates"]

PAUSE_CACHE_S = 0.5


class Gates:
    def __init__(self, router: ComputeRouter) -> None:
        self._router = router
        self.store = GateStore(router.store.engine)
        self._cached: tuple[float, list[Pause]] | None = None
        self._guard = threading.Lock()

    # -- the kill switch ---------------------------------------------------------------------

    def pauses(self, *, fresh: bool = False) -> list[Pause]:
        now = time.monotonic()
        with self._guard:
            if not fresh and self._cached is not None and now - self._cached[0] < PAUSE_CACHE_S:
                return self._cached[1]
        active = self.store.active()
        with self._guard:
            self._cached = (now, active)
        return active

    def admit(self, user_id: str, providers: Sequence[str]) -> tuple[str, ...]:
        """The candidate providers a new run or session of ``user_id`` may use, in order;
        raises :class:`Paused` when the platform, the user or every candidate is paused."""
        paused = {p.scope.key: p for p in self.pauses()}
        for scope in (
            PauseScope(kind=ScopeKind.GLOBAL),
            PauseScope(kind=ScopeKind.USER, target=user_id),
        ):
            found = paused.get(scope.key)
            if found is not None:
                raise Paused(scope=str(scope), reason=found.reason)
        allowed = tuple(
            name
            for name in providers
            if PauseScope(kind=ScopeKind.PROVIDER, target=name).key not in paused
        )
        if providers and not allowed:
            first = paused[PauseScope(kind=ScopeKind.PROVIDER, target=providers[0]).key]
            names = ", ".join(providers)
            raise Paused(scope=f"provider {names}", reason=first.reason)
        return allowed

    def require_provider(self, provider: str) -> None:
        """A live session is sticky: if its provider is paused, the run is refused."""
        scope = PauseScope(kind=ScopeKind.PROVIDER, target=provider)
        for pause in self.pauses():
            if pause.scope == scope:
                raise Paused(scope=str(scope), reason=pause.reason)

    def pause(self, pause: Pause) -> list[str]:
        """Set a pause; with ``now``, ask every run in flight in its scope to cancel. Returns
        the runs asked."""
        self.store.pause(pause)
        self.pauses(fresh=True)
        if pause.mode is not PauseMode.NOW:
            return []
        return self.store.request_cancel(
            pause.scope, reason=f"{pause.scope} paused: {pause.reason}", at=pause.at
        )

    def unpause(self, scope: PauseScope, *, reason: str, actor: str) -> bool:
        lifted = self.store.unpause(scope, reason=reason, actor=actor, at=self._router.clock.now())
        self.pauses(fresh=True)
        return lifted

    # -- caps ---------------------------------------------------------------------------------

    def reserve_run(self, *, run_id: str, user_id: str) -> None:
        """Hold one of ``user_id``'s run permits, or raise :class:`CapReached`."""
        router = self._router
        self.store.reserve_permit(
            run_id=run_id,
            user_id=user_id,
            owner=router.owner,
            now=router.clock.now(),
            cap=router.settings.max_runs_per_user,
        )

    def release_run(self, run_id: str) -> None:
        self.store.release_permit(run_id)
