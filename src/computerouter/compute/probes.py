"""Active probes of provider health: one step of the lifecycle pass.

Passive health (:mod:`computerouter.compute.health`) learns only from users' calls, so an open
circuit closes only when a user's create is tried on it as the probe, and an outage is noticed
only when a user's create fails. Here, every ``provider_probe_interval_s`` (``0``: off), each
configured provider that offers :class:`~computerouter.providers.base.HealthProbe` is probed in
each region it serves:

- an **open** circuit past its cool-down: the half-open probe is claimed exactly as a user's
  call claims it (one prober across every replica); success closes the circuit, failure
  re-opens it for twice as long (Retry-After honoured);
- a **closed** circuit: a failure opens it before a user's create pays for the outage.

A circuit is probed at most once per interval whatever the number of replicas: the claim and
its time are one compare-and-set on the shared health row. Where every region of a provider is
behind one API (``Capabilities.regional_probe`` false: Daytona's targets, Sprites), one probe
call in a pass answers for each of its regions whose turn it is. A half-open circuit whose probe a
user's call holds is left to that call. A provider without the protocol is never probed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from computerouter.errors import ProviderError
from computerouter.providers.base import HealthProbe

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter

__all__ = ["ProbeReport", "probe_once", "probe_targets"]

log = logging.getLogger("computerouter.health")


@dataclass(kw_only=True, slots=True)
class ProbeReport:
    """What one round of probes changed, each item ``provider`` or ``provider/region``."""

    circuits_closed: list[str] = field(default_factory=list)
    """Open circuits a probe closed."""
    circuits_reopened: list[str] = field(default_factory=list)
    """Open circuits whose probe failed: open again, for longer."""
    circuits_opened: list[str] = field(default_factory=list)
    """Closed circuits whose probe failed: open now, before a user's call met the outage."""
    errors: list[str] = field(default_factory=list)
    """Probes that raised what a provider should not (a bug in its probe): counted as a
    failure of the provider too."""


def _where(provider: str, region: str) -> str:
    return f"{provider}/{region}" if region else provider


def probe_targets(router: ComputeRouter) -> list[tuple[str, str]]:
    """``(provider, region)`` for every configured provider that can be probed: each region it
    serves (``""`` when it names none) and each region a circuit was recorded for."""
    recorded: dict[str, set[str]] = {}
    for circuit in router.health.circuits():
        recorded.setdefault(circuit.provider, set()).add(circuit.region)
    targets: list[tuple[str, str]] = []
    for name, provider in router.providers.items():
        if not isinstance(provider, HealthProbe):
            continue
        regions = set(provider.capabilities.regions or ("",)) | recorded.get(name, set())
        targets.extend((name, region) for region in sorted(regions))
    return targets


def probe_once(router: ComputeRouter) -> ProbeReport:
    """Probe every target whose turn it is (see the module docstring)."""
    report = ProbeReport()
    if router.settings.provider_probe_interval_s <= 0:
        return report
    answered: dict[str, Exception | None] = {}  # one call's outcome, for region-less APIs
    for name, region in probe_targets(router):
        now = router.clock.now()
        before = router.health.store.get(name, region)
        was_open = before is not None and before.state != "closed"
        if not router.health.claim_active_probe(name, now=now, region=region):
            continue
        provider = router.providers[name]
        assert isinstance(provider, HealthProbe)
        where = _where(name, region)
        shared = not provider.capabilities.regional_probe
        try:
            if shared and name in answered:
                if (earlier := answered[name]) is not None:
                    raise earlier
            else:
                try:
                    provider.probe(region)
                except Exception as exc:
                    answered[name] = exc
                    raise
                answered[name] = None
        except Exception as exc:  # any failure means it cannot serve; a non-ProviderError is a bug
            if not isinstance(exc, ProviderError):
                log.exception("probe of %s raised", where)
                report.errors.append(f"{where}: probe raised {type(exc).__name__}: {exc}")
            retryable = getattr(exc, "retryable", False)
            router.health.failed(
                name,
                now=router.clock.now(),
                region=region,
                retry_after_s=getattr(exc, "retry_after_s", None),
                error=f"probe: {exc}" + ("" if retryable else " (not retryable)"),
                probed=True,
            )
            (report.circuits_reopened if was_open else report.circuits_opened).append(where)
            continue
        router.health.succeeded(name, region=region, probed=True)
        if was_open:
            report.circuits_closed.append(where)
    return report
