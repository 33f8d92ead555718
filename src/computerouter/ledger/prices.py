"""Price tables: what a second of compute and a million tokens cost, and the run budget.

Read from ``prices.toml`` (``Settings.prices_file``; default ``$COMPUTEROUTER_HOME/prices.toml``).
Every amount is an **integer number of micro-credits** (1 credit = 1_000_000), so nothing in
the file is rounded on the way in; a float is refused. A missing file means the built-in
defaults; a file only names what it changes::

    [budget]
    run_reserve = 100_000      # the least a run holds: refused when it cannot hold this much
    run_max = 2_000_000        # the most a run holds, and so the most one run can cost
    floor = 0                  # what balance - holds may never go below

    [compute.local]            # provider "local"; starts from the built-in local price
    cpu_hour = 10_000          # per CPU-hour of the session's CPU limit
    memory_gib_hour = 1_000    # per GiB-hour of its memory limit
    shape_hour = 0             # flat, per session-hour, whatever its size

    [compute.daytona.regions.eu]   # one region; starts from the provider's price
    cpu_hour = 60_000

    [compute."*"]              # any provider not named

    [models."*"]               # any model not named
    input_per_mtok = 200_000   # per million input tokens
    output_per_mtok = 600_000  # per million output tokens

Compute is billed for running time only, per millisecond, at the session's resource limits
(what the provider reserves for it, not what it happens to use). See :class:`ComputeRate` for
the exact arithmetic.

A run holds ``min(available - floor, run_max)`` of its user's credit while it is in flight
(``available`` = balance - holds of other runs in flight), and is refused up front when that is
less than ``run_reserve``. The hold is the run's ceiling: its model calls are metered as they
pass the session's egress relay (each call's worst case, request bytes as input tokens plus the
``max_tokens`` it may produce, is charged before it goes out, capped to what is left; the real
``usage`` after), its running time counts against the same hold, and the run is stopped with
``run.failed`` code ``credit`` once the two reach it. Its two entries are never more than the
hold, so no run can take a balance below the floor.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from computerouter.config import Settings
from computerouter.domain.limits import CONFIG_FILE_MAX_BYTES
from computerouter.domain.values import Resources
from computerouter.errors import ConfigError
from computerouter.inputs import read_bounded_text
from computerouter.providers.registration import registered

__all__ = [
    "ANY",
    "MS_PER_HOUR",
    "RATE_DENOMINATOR",
    "BudgetPolicy",
    "ComputePrice",
    "ComputeRate",
    "ModelPrice",
    "PriceTable",
    "ProviderPrices",
    "default_prices",
    "load_prices",
    "prices_path",
]

ANY = "*"
"""The key of the price that applies to any provider or model not named."""

MS_PER_HOUR = 3_600_000
_MILLI_CPU = 1_000
_MIB_PER_GIB = 1_024
RATE_DENOMINATOR = MS_PER_HOUR * _MILLI_CPU * _MIB_PER_GIB
"""A :class:`ComputeRate` is ``per_ms / RATE_DENOMINATOR`` micro-credits per millisecond: the
one denominator under which milli-CPUs, MiB and milliseconds all price without rounding."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ComputeRate:
    """What one millisecond of one session costs, exactly: ``per_ms / RATE_DENOMINATOR``.

    :meth:`charge` turns milliseconds into whole micro-credits and carries the fraction to the
    session's next charge, so a session's entries always add up to its exact cost less a carry
    below one micro-credit: nothing is rounded away, nothing is counted twice.
    """

    per_ms: int

    def charge(self, ms: int, *, carry: int) -> tuple[int, int]:
        """``(micro-credits, new carry)`` for ``ms`` milliseconds, given the carried fraction."""
        if ms < 0 or not 0 <= carry < RATE_DENOMINATOR:
            raise ValueError("milliseconds must be >= 0 and the carry within [0, denominator)")
        amount, rest = divmod(ms * self.per_ms + carry, RATE_DENOMINATOR)
        return amount, rest

    @property
    def per_hour(self) -> Decimal:
        """Micro-credits per hour, for display (exact: the denominator is 2^k * 5^j)."""
        return Decimal(self.per_ms * MS_PER_HOUR) / Decimal(RATE_DENOMINATOR)


@dataclass(frozen=True, kw_only=True, slots=True)
class ComputePrice:
    """Micro-credits per hour of a session: per CPU, per GiB of memory, and flat."""

    cpu_hour: int = 0
    memory_gib_hour: int = 0
    shape_hour: int = 0

    def rate(self, resources: Resources) -> ComputeRate:
        # The one place a float (the CPU limit) meets money: it becomes whole milli-CPUs first.
        millicpus = round(resources.cpus * _MILLI_CPU)
        per_hour_scaled = (
            self.cpu_hour * millicpus * _MIB_PER_GIB
            + self.memory_gib_hour * resources.memory_mb * _MILLI_CPU
            + self.shape_hour * _MILLI_CPU * _MIB_PER_GIB
        )
        return ComputeRate(per_ms=per_hour_scaled)


@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderPrices:
    default: ComputePrice
    regions: Mapping[str, ComputePrice] = field(default_factory=dict)

    def for_region(self, region: str) -> ComputePrice:
        return self.regions.get(region, self.default)


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelPrice:
    """Micro-credits per million tokens, input and output."""

    input_per_mtok: int = 0
    output_per_mtok: int = 0

    def cost(self, *, input_tokens: int, output_tokens: int) -> int:
        """Whole micro-credits, rounded down (a run is never charged a fraction it did not use)."""
        scaled = input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok
        return scaled // 1_000_000


@dataclass(frozen=True, kw_only=True, slots=True)
class BudgetPolicy:
    run_reserve: int = 100_000
    """The least a run holds (0.1 credit by default): a run is refused up front when its user's
    available credit above the floor is less."""
    run_max: int = 2_000_000
    """The most a run holds (2 credits by default), and so the most one run can cost: its model
    calls and its running time are stopped at its hold."""
    floor: int = 0
    """The lowest ``balance - holds`` a reservation may leave; below zero grants a credit line."""

    def hold_for(self, available: int) -> int:
        """What a run holds when its user has ``available`` (balance - holds); below
        ``run_reserve`` the run is refused."""
        return min(self.run_max, available - self.floor)


@dataclass(frozen=True, kw_only=True, slots=True)
class PriceTable:
    compute: Mapping[str, ProviderPrices]
    models: Mapping[str, ModelPrice]
    budget: BudgetPolicy = BudgetPolicy()
    source: str = "built-in defaults"

    def compute_price(self, provider: str, region: str = "") -> ComputePrice:
        prices = self.compute.get(provider) or self.compute[ANY]
        return prices.for_region(region)

    def model_price(self, model: str) -> ModelPrice:
        return self.models.get(model) or self.models[ANY]


def default_prices() -> PriceTable:
    """Each registered provider's list price (placeholders: think 1 credit = 1 USD); any other
    provider at the dearest of them; operators set their own in ``prices.toml``."""
    compute = {
        r.name: ProviderPrices(
            default=ComputePrice(
                cpu_hour=r.list_price.cpu_hour,
                memory_gib_hour=r.list_price.memory_gib_hour,
                shape_hour=r.list_price.shape_hour,
            )
        )
        for r in registered()
    }
    compute[ANY] = ProviderPrices(default=ComputePrice(cpu_hour=50_400, memory_gib_hour=16_200))
    return PriceTable(
        compute=compute,
        models={ANY: ModelPrice(input_per_mtok=200_000, output_per_mtok=600_000)},
    )


def prices_path(settings: Settings) -> Path:
    if settings.prices_file:
        return Path(settings.prices_file).expanduser()
    return settings.home / "prices.toml"


def load_prices(path: Path) -> PriceTable:
    """The defaults, overridden by ``path`` if it exists. Raises :class:`ConfigError`."""
    base = default_prices()
    if not path.exists():
        return base
    text = read_bounded_text(
        path, what="price file", limit=CONFIG_FILE_MAX_BYTES, error=ConfigError
    )
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read the price file {path}: {exc}") from exc
    where = str(path)
    _only(raw, {"budget", "compute", "models"}, where)
    budget = _merge(base.budget, _table(raw, "budget", where), where + " [budget]")
    if budget.run_max < budget.run_reserve:
        raise ConfigError(
            f"{where} [budget] run_max = {budget.run_max} is less than run_reserve = "
            f"{budget.run_reserve}: a run must be able to hold at least its minimum"
        )
    compute = dict(base.compute)
    for provider, raw_body in _table(raw, "compute", where).items():
        section = f"{where} [compute.{provider}]"
        body = _as_table(raw_body, section)
        regions_raw = _as_table(body.pop("regions", {}), section + " regions")
        start = (compute.get(provider) or compute[ANY]).default
        default = _merge(start, body, section)
        regions = dict(compute[provider].regions) if provider in compute else {}
        for region, region_body in regions_raw.items():
            regions[region] = _merge(
                regions.get(region, default),
                _as_table(region_body, f"{section} region {region}"),
                f"{section} region {region}",
            )
        compute[provider] = ProviderPrices(default=default, regions=regions)
    models = dict(base.models)
    for model, body in _table(raw, "models", where).items():
        section = f"{where} [models.{model}]"
        models[model] = _merge(models.get(model, models[ANY]), _as_table(body, section), section)
    return PriceTable(compute=compute, models=models, budget=budget, source=where)


def _only(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in {where} (known: {sorted(allowed)})")


def _table(raw: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    return _as_table(raw.get(key, {}), f"{where} [{key}]")


def _as_table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    return dict(value)


_Priced = TypeVar("_Priced", ComputePrice, ModelPrice, BudgetPolicy)


def _merge(start: _Priced, body: Mapping[str, Any], where: str) -> _Priced:
    names = {f.name for f in fields(start)}
    _only(body, names, where)
    values: dict[str, int] = {}
    for key, value in body.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                f"{where} {key} = {value!r}: use a whole number of micro-credits "
                "(1 credit = 1_000_000)"
            )
        if value < 0 and key != "floor":
            raise ConfigError(f"{where} {key} = {value}: a price cannot be negative")
        if abs(value) > 10**15:
            raise ConfigError(f"{where} {key} = {value}: implausibly large")
        values[key] = value
    return replace(start, **values)
