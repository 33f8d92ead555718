"""Metrics in the Prometheus text format, for ``GET /metrics``.

Two kinds, by where the truth lives:

- **From the store**, read at each scrape, so every replica reports the same platform-wide
  numbers: sessions by state and provider, runs by outcome, ledger entries by kind, provider
  circuits, pauses in force (:class:`StoreCollector`).
- **From this process**, as things happen: how long sessions took to be ready (by provider and
  how: running, resumed, restored, created), turns and their outcomes, tokens, and the gates'
  refusals of API calls (:func:`observe`, :func:`refused`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from computerouter.domain.events import (
    AgentEvent,
    RunCancelled,
    RunCompleted,
    RunFailed,
    SessionReady,
    Usage,
)

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from sqlalchemy.engine import Engine

__all__ = ["REGISTRY", "StoreCollector", "observe", "refused", "render"]

REGISTRY = CollectorRegistry(auto_describe=True)

_READY = Histogram(
    "computerouter_session_ready_seconds",
    "Time from a run's start to its session being ready, by provider and how it was made ready.",
    ("provider", "how"),
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
_RUNS = Counter(
    "computerouter_process_runs",
    "Runs this process carried to their end, by outcome and error code.",
    ("outcome", "code"),
    registry=REGISTRY,
)
_TOKENS = Counter(
    "computerouter_process_tokens",
    "Model tokens of the runs of this process, by direction.",
    ("direction",),
    registry=REGISTRY,
)
_REFUSED = Counter(
    "computerouter_refusals",
    "API calls that ended in an error, by its code (the gates' refusals among them: paused, "
    "cap_reached, insufficient_credit, rate_limited).",
    ("code",),
    registry=REGISTRY,
)


def observe(event: AgentEvent) -> None:
    """Count what one run event says (called for every event of every run)."""
    if isinstance(event, SessionReady):
        how = event.how.split(" ", 1)[0]  # "switched from the echo runtime" -> "switched"
        _READY.labels(provider=event.provider, how=how).observe(event.took_ms / 1000)
    elif isinstance(event, Usage):
        _TOKENS.labels(direction="input").inc(event.input_tokens)
        _TOKENS.labels(direction="output").inc(event.output_tokens)
    elif isinstance(event, RunCompleted):
        _RUNS.labels(outcome="completed", code="").inc()
    elif isinstance(event, RunFailed):
        _RUNS.labels(outcome="failed", code=event.code).inc()
    elif isinstance(event, RunCancelled):
        _RUNS.labels(outcome="cancelled", code="").inc()


def refused(code: str) -> None:
    """An API call ended with the error ``code``."""
    _REFUSED.labels(code=code).inc()


class StoreCollector(Collector):
    """Platform-wide numbers read from the store at each scrape (a few grouped counts)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        import sqlalchemy as sa

        from computerouter.store.schema import (
            ledger_entries,
            pauses,
            provider_health,
            runs,
            sessions,
        )

        live = GaugeMetricFamily(
            "computerouter_sessions", "Compute sessions by state and provider.",
            labels=("state", "provider"),
        )  # fmt: skip
        ended = CounterMetricFamily(
            "computerouter_runs", "Runs by state (running, completed, failed, ...), every replica.",
            labels=("state",),
        )  # fmt: skip
        entries = CounterMetricFamily(
            "computerouter_ledger_entries", "Ledger entries written, by kind.", labels=("kind",)
        )
        circuits = GaugeMetricFamily(
            "computerouter_provider_circuit_open",
            "1 when a provider's circuit (per region) is open or half-open, else 0.",
            labels=("provider", "region", "state"),
        )
        paused = GaugeMetricFamily("computerouter_pauses", "Pauses in force.")
        with self._engine.connect() as conn:
            for state, provider, count in conn.execute(
                sa.select(sessions.c.state, sessions.c.provider, sa.func.count()).group_by(
                    sessions.c.state, sessions.c.provider
                )
            ):
                live.add_metric([state, provider], count)
            for state, count in conn.execute(
                sa.select(runs.c.state, sa.func.count()).group_by(runs.c.state)
            ):
                ended.add_metric([state], count)
            for kind, count in conn.execute(
                sa.select(ledger_entries.c.kind, sa.func.count()).group_by(ledger_entries.c.kind)
            ):
                entries.add_metric([kind], count)
            for provider, region, state in conn.execute(
                sa.select(
                    provider_health.c.provider, provider_health.c.region, provider_health.c.state
                )
            ):
                circuits.add_metric([provider, region, state], 0 if state == "closed" else 1)
            paused.add_metric(
                [], conn.execute(sa.select(sa.func.count()).select_from(pauses)).scalar_one()
            )
        yield from (live, ended, entries, circuits, paused)


def render(store_collector: StoreCollector | None = None) -> bytes:
    """The text exposition: this process's metrics, and the store's if given."""
    if store_collector is None:
        return generate_latest(REGISTRY)
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(store_collector)
    return generate_latest(REGISTRY) + generate_latest(scrape)
