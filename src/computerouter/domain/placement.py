"""Placement: which providers a new session may be created on, in order, and why.

A pure function of the agent's settings (a pinned ``compute_provider``, a ``compute_policy``, a
pinned ``compute_region``), the caller's context (its region, the time) and one :class:`Offer`
per provider the router knows (the regions it serves, its price per hour for the requested
resources in each, its warm-start latency, whether it is at capacity, its circuit per region).
It never does I/O: the caller gathers the offers (:mod:`computerouter.compute.offers`).

Rules, in order:

1. An offer that is not usable here (not configured) is dropped, saying what to set.
2. A pin keeps only the pinned provider; a pin to a provider not offered is refused.
3. Region: a ``compute_region`` pin keeps only providers serving exactly that region, and is
   never silently violated: no serving provider, and the placement is refused. Without a pin,
   each provider is placed in its region nearest the caller (:mod:`.regions`), or in its first
   region when the caller's region is unknown.
4. Health: a provider whose circuit is open (or whose half-open probe is in flight elsewhere)
   is dropped; one whose cool-down is over is kept in its usual place, for its probe (placed
   behind the healthy ones, a recovered primary would never be tried while its secondary
   serves, and never come back; only the caller that claims the probe tries it, the others
   skip it). Never every provider at once: if health alone would drop them all, the one whose
   cool-down ends first is kept, and its reason says so.
5. Order: ``latency-aware`` (the default) by warm-start latency, ``cost-aware`` by price per
   hour (then latency); either way a provider at capacity spills behind those with room.
   Ties go to the nearer region, then the name, so the order is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from computerouter.domain.agents import COMPUTE_POLICIES, ModelSettings
from computerouter.domain.regions import REGIONS, distance_km, known_region, nearest
from computerouter.errors import InputError, ProviderUnavailable

__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "CallerContext",
    "Candidate",
    "Dropped",
    "Health",
    "Offer",
    "Placement",
    "check_policy",
    "place",
]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True, kw_only=True, slots=True)
class Health:
    """One circuit of a provider in one region (see :mod:`computerouter.compute.health`)."""

    state: str = CLOSED
    open_until: float = 0.0
    """Until when an ``open`` circuit skips the provider."""
    probe_until: float = 0.0
    """Until when a ``half_open`` circuit's probe belongs to the caller that claimed it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Offer:
    provider: str
    regions: tuple[str, ...] = ()
    """Regions served; empty: one unnamed region (``""``)."""
    price_per_hour: Mapping[str, Decimal] = field(default_factory=dict)
    """Micro-credits per hour for the requested resources, by region (``""``: the provider's
    own price, used for a region not listed)."""
    warm_start_ms: float = 0.0
    full: str = ""
    """Why the provider has no room now (its capacity, a cap); ``""``: it has room."""
    health: Mapping[str, Health] = field(default_factory=dict)
    """Circuits by region; a region not listed is closed."""
    unavailable: str = ""
    """Why the provider cannot be used here at all (not configured); ``""``: usable."""

    def price(self, region: str) -> Decimal | None:
        return self.price_per_hour.get(region, self.price_per_hour.get(""))

    def circuit(self, region: str) -> Health:
        return self.health.get(region, Health())


@dataclass(frozen=True, kw_only=True, slots=True)
class CallerContext:
    now: float
    region: str = ""
    """The caller's region (from the request, else the user's setting); ``""``: unknown."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    provider: str
    region: str
    reason: str
    price_per_hour: Decimal | None
    warm_start_ms: float
    health: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Dropped:
    provider: str
    region: str
    reason: str
    price_per_hour: Decimal | None = None
    warm_start_ms: float = 0.0
    health: str = CLOSED


@dataclass(frozen=True, kw_only=True, slots=True)
class Placement:
    policy: str
    """``pinned``, ``latency-aware`` or ``cost-aware``."""
    caller_region: str
    pinned_region: str
    candidates: tuple[Candidate, ...]
    dropped: tuple[Dropped, ...]
    refusal: str = ""
    """Why no provider can take the session (then ``candidates`` is empty)."""

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(c.provider for c in self.candidates)

    def require(self) -> tuple[Candidate, ...]:
        """The candidates, or the refusal as :class:`ProviderUnavailable` (not retryable)."""
        if not self.candidates:
            raise ProviderUnavailable(self.refusal or "no provider is available", provider="any")
        return self.candidates


def check_policy(policy: str) -> str:
    if policy not in COMPUTE_POLICIES:
        raise InputError(
            f"unknown compute policy {policy!r} (known: {', '.join(COMPUTE_POLICIES)})"
        )
    return policy


@dataclass(frozen=True, kw_only=True, slots=True)
class _Kept:
    offer: Offer
    region: str
    distance: int | None
    notes: tuple[str, ...]


def place(settings: ModelSettings, caller: CallerContext, offers: Sequence[Offer]) -> Placement:
    """The ordered candidates for a new session, each with its reason, and every provider
    dropped with why. Raises :class:`InputError` only for an unknown caller region."""
    if caller.region:
        known_region(caller.region)
    pin = settings.compute_provider
    policy = "pinned" if pin is not None else settings.effective_policy
    pinned_region = settings.compute_region or ""
    dropped: list[Dropped] = []
    kept: list[_Kept] = []
    cooling: list[_Kept] = []
    for offer in offers:
        if pin is not None and offer.provider != pin:
            dropped.append(_drop(offer, "", f"not the pinned provider (the agent pins {pin})"))
            continue
        if offer.unavailable:
            dropped.append(_drop(offer, "", offer.unavailable))
            continue
        region, distance, note = _region(offer, pinned_region, caller.region)
        if note is None:
            served = ", ".join(offer.regions) or "one unnamed region"
            why = f"does not serve the pinned region {pinned_region} (serves {served})"
            dropped.append(_drop(offer, "", why))
            continue
        circuit = offer.circuit(region)
        entry = _Kept(
            offer=offer,
            region=region,
            distance=distance,
            notes=(note,) if note else (),
        )
        health_note, ok = _health(circuit, caller.now)
        if not ok:
            cooling.append(_with(entry, health_note))
            dropped.append(_drop(offer, region, health_note))
            continue
        if health_note:
            entry = _Kept(
                offer=offer,
                region=region,
                distance=distance,
                notes=(*entry.notes, health_note),
            )
        kept.append(entry)
    if not kept and cooling:
        # Never every provider ejected for health: the one back soonest is still tried.
        soonest = min(
            cooling, key=lambda k: (k.offer.circuit(k.region).open_until, k.offer.provider)
        )
        dropped = [d for d in dropped if d.provider != soonest.offer.provider]
        kept.append(_with(soonest, "every candidate's circuit is open; its cool-down ends first"))
    kept.sort(key=_order(policy))
    candidates = tuple(_candidate(k, policy, i, len(kept)) for i, k in enumerate(kept))
    refusal = "" if candidates else _refusal(settings, offers, dropped, pinned_region)
    return Placement(
        policy=policy,
        caller_region=caller.region,
        pinned_region=pinned_region,
        candidates=candidates,
        dropped=tuple(dropped),
        refusal=refusal,
    )


def _region(offer: Offer, pinned: str, caller: str) -> tuple[str, int | None, str | None]:
    """``(region, distance, note)``; ``note`` is ``None`` when the offer cannot serve."""
    if pinned:
        if pinned not in offer.regions:
            return "", None, None
        return pinned, distance_km(caller, pinned) if caller else None, f"region {pinned} (pinned)"
    if not offer.regions:
        return "", None, ""
    if not caller:
        return offer.regions[0], None, f"region {offer.regions[0]} (caller's region unknown)"
    region, distance = nearest(caller, offer.regions)
    if distance is None:
        return region, None, f"region {region} (no distance known from {caller})"
    return region, distance, f"region {region}, {distance} km from the caller ({caller})"


def _health(circuit: Health, now: float) -> tuple[str, bool]:
    """``(note, usable)``."""
    if circuit.state == OPEN and now < circuit.open_until:
        return f"circuit open, cooling down for {circuit.open_until - now:.0f} s", False
    if circuit.state == OPEN:
        return "cool-down over: tried as the half-open probe", True
    if circuit.state == HALF_OPEN and now < circuit.probe_until:
        return "circuit half-open: another caller's probe is in flight", False
    if circuit.state == HALF_OPEN:
        return "circuit half-open, its probe abandoned: tried as the probe", True
    return "", True


def _with(entry: _Kept, note: str) -> _Kept:
    return _Kept(
        offer=entry.offer,
        region=entry.region,
        distance=entry.distance,
        notes=(*entry.notes, note),
    )


def _order(policy: str) -> Callable[[_Kept], tuple[object, ...]]:
    def key(k: _Kept) -> tuple[object, ...]:
        price = k.offer.price(k.region)
        cost = price if price is not None else Decimal("Infinity")
        near = k.distance if k.distance is not None else float("inf")
        head = (bool(k.offer.full),)
        if policy == "cost-aware":
            return (*head, cost, k.offer.warm_start_ms, near, k.offer.provider)
        return (*head, k.offer.warm_start_ms, cost, near, k.offer.provider)

    return key


def _candidate(k: _Kept, policy: str, index: int, total: int) -> Candidate:
    offer = k.offer
    price = offer.price(k.region)
    if policy == "pinned":
        lead = "pinned by the agent"
    elif policy == "cost-aware":
        shown = "no price" if price is None else f"{_micro(price)} µc/h"
        lead = f"cost-aware: {shown}, #{index + 1} of {total}"
    else:
        lead = f"latency-aware: warm start {offer.warm_start_ms:g} ms, #{index + 1} of {total}"
    notes = [lead, *k.notes]
    if offer.full:
        notes.append(f"at capacity ({offer.full}): spills to the next")
    circuit = offer.circuit(k.region).state
    return Candidate(
        provider=offer.provider,
        region=k.region,
        reason="; ".join(n for n in notes if n),
        price_per_hour=price,
        warm_start_ms=offer.warm_start_ms,
        health=circuit,
    )


def _drop(offer: Offer, region: str, reason: str) -> Dropped:
    return Dropped(
        provider=offer.provider,
        region=region,
        reason=reason,
        price_per_hour=offer.price(region),
        warm_start_ms=offer.warm_start_ms,
        health=offer.circuit(region).state,
    )


def _refusal(
    settings: ModelSettings, offers: Sequence[Offer], dropped: Sequence[Dropped], region: str
) -> str:
    names = ", ".join(o.provider for o in offers if not o.unavailable) or "none"
    pin = settings.compute_provider
    if pin is not None and all(o.provider != pin for o in offers):
        return (
            f"the agent is pinned to provider {pin!r}, which is not offered here (offered: {names})"
        )
    if pin is not None and any(o.provider == pin and o.unavailable for o in offers):
        why = next(d.reason for d in dropped if d.provider == pin)
        return f"the agent is pinned to provider {pin!r}, which cannot be used here: {why}"
    if region:
        if region not in REGIONS and not any(region in o.regions for o in offers):
            return f"unknown region {region!r} (known: {', '.join(REGIONS)})"
        served = ", ".join(sorted({r for o in offers if not o.unavailable for r in o.regions}))
        which = "no usable provider serves" if pin is None else f"provider {pin!r} does not serve"
        return (
            f"the agent is pinned to region {region!r}, and {which} it "
            f"(served: {served or 'no named region'})"
        )
    return f"no provider is available (offered: {names})"


def _micro(amount: Decimal) -> str:
    whole = amount.quantize(Decimal(1))
    return f"{whole:,}" if whole == amount else f"{amount:,.3f}"
