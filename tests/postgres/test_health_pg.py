"""Provider health on PostgreSQL: of many callers on two replicas, exactly one wins the
half-open probe of a circuit whose cool-down has ended."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.store import open_store
from computerouter.testing import FakeProvider, FakeRuntime

pytestmark = pytest.mark.postgres


def test_exactly_one_probe_across_replicas(pg_url: str, tmp_path: Path) -> None:
    settings = Settings.load(env={}, home=tmp_path, database_url=pg_url, provider_cooldown_s=0.2)
    routers = [
        ComputeRouter(
            store=open_store(pg_url),
            providers={"p": FakeProvider("p")},
            runtimes={"fake": FakeRuntime()},
            settings=settings,
            owner=f"replica-{i}:1:1",
        )
        for i in range(2)
    ]
    try:
        routers[0].health.failed("p", now=time.time(), error="down")
        time.sleep(0.3)
        barrier = threading.Barrier(10)
        won: list[str] = []

        def ask(i: int) -> None:
            router = routers[i % 2]
            barrier.wait()
            if router.health.available("p", now=time.time()):
                won.append(router.owner)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(won)) == 1, won  # one replica holds the probe (its callers share it)
    finally:
        for router in routers:
            router.store.close()
