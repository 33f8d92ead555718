"""Provider health, shared through the store so every replica sees it: a circuit per
(provider, region).

``closed`` → a create fails with a retryable error (or the vendor says Retry-After) → ``open``
for the cool-down (``provider_cooldown_s``, never shorter than Retry-After): fail-over skips it
→ the cool-down ends → ``half_open``: exactly one caller, on any replica, may try it (the probe)
→ success closes it; failure re-opens it for twice as long (at most ``provider_cooldown_max_s``).
So calls to a dead provider stay bounded: one probe per cool-down, whatever the traffic. A
probe whose caller died is given to another after ``probe_s``.

Besides a user's call, the lifecycle pass probes actively (:mod:`computerouter.compute.probes`):
it claims the half-open probe the same way, so a circuit closes or re-opens without a user's
request paying for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from computerouter.store.health import Circuit, HealthStore

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter

__all__ = ["Circuit", "ProviderHealth"]

PROBE_S = 120.0


class ProviderHealth:
    def __init__(self, router: ComputeRouter) -> None:
        self._router = router
        self.store = HealthStore(router.store.engine)

    def available(self, provider: str, *, now: float, region: str = "") -> bool:
        """May a new session be tried on ``provider`` now? Claims the probe when one is due."""
        return self.store.claim_probe(
            provider, region, owner=self._router.owner, now=now, probe_s=PROBE_S
        )

    def claim_active_probe(self, provider: str, *, now: float, region: str = "") -> bool:
        """May this replica actively probe ``provider`` in ``region`` now (see
        :meth:`HealthStore.claim_active_probe`)? Closed circuits are probed too."""
        return self.store.claim_active_probe(
            provider,
            region,
            owner=self._router.owner,
            now=now,
            interval_s=self._router.settings.provider_probe_interval_s,
            probe_s=PROBE_S,
            closed_too=True,
        )

    def failed(
        self,
        provider: str,
        *,
        now: float,
        region: str = "",
        retry_after_s: float | None = None,
        error: str = "",
        probed: bool = False,
    ) -> Circuit:
        settings = self._router.settings
        return self.store.failed(
            provider,
            region,
            now=now,
            base_s=settings.provider_cooldown_s,
            max_s=max(settings.provider_cooldown_max_s, settings.provider_cooldown_s),
            retry_after_s=retry_after_s,
            error=error,
            probed=probed,
        )

    def succeeded(self, provider: str, *, region: str = "", probed: bool = False) -> None:
        self.store.succeeded(provider, region, now=self._router.clock.now(), probed=probed)

    def cooling(self, *, now: float) -> dict[str, float]:
        """Providers whose circuit is open now, with the time they may be tried again."""
        return {
            c.provider: c.open_until
            for c in self.store.all()
            if c.state == "open" and c.open_until > now
        }

    def circuits(self) -> list[Circuit]:
        """Every circuit that is not closed, and closed ones that were actively probed (other
        closed circuits keep no row)."""
        return self.store.all()
