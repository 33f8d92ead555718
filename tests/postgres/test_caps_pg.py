"""Two replicas on PostgreSQL: a cap of 3 runs per user holds under 20 concurrent requests
split across both, and a pause set through one refuses runs on the other."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.gates import Pause, PauseMode, PauseScope, ScopeKind
from computerouter.domain.values import SessionKey
from computerouter.errors import CapReached, Paused
from computerouter.store import open_store
from computerouter.testing import FakeProvider, FakeRuntime

pytestmark = pytest.mark.postgres


def replica(pg_url: str, tmp_path: Path, owner: str) -> ComputeRouter:
    settings = Settings.load(
        env={},
        home=tmp_path,
        database_url=pg_url,
        default_provider="fake",
        default_runtime="fake",
        max_runs_per_user=3,
    )
    return ComputeRouter(
        store=open_store(pg_url),
        providers={"fake": FakeProvider("fake")},
        runtimes={"fake": FakeRuntime()},
        settings=replace(settings, max_runs_per_user=3),
        owner=owner,
    )


def test_a_cap_of_three_holds_across_two_replicas(pg_url: str, tmp_path: Path) -> None:
    replicas = [replica(pg_url, tmp_path, f"replica-{i}:1:1") for i in range(2)]
    barrier = threading.Barrier(20)
    lock = threading.Lock()
    in_flight = peak = admitted = refused = 0

    def request(i: int) -> None:
        nonlocal in_flight, peak, admitted, refused
        router = replicas[i % 2]
        key = SessionKey(user_id="alice", sandbox_id=f"sb{i}")
        barrier.wait()
        try:
            with router.open_run(key, run_id=f"run-{i}"):
                with lock:
                    in_flight += 1
                    admitted += 1
                    peak = max(peak, in_flight)
                time.sleep(0.5)
                with lock:
                    in_flight -= 1
        except CapReached:
            with lock:
                refused += 1

    threads = [threading.Thread(target=request, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert peak <= 3
        assert admitted >= 3
        assert admitted + refused == 20
        assert replicas[0].gates.store.permits() == []
    finally:
        for r in replicas:
            r.store.close()


def test_a_pause_through_one_replica_refuses_on_the_other(pg_url: str, tmp_path: Path) -> None:
    a, b = (replica(pg_url, tmp_path, f"replica-{i}:1:1") for i in range(2))
    try:
        a.gates.pause(
            Pause(
                scope=PauseScope(kind=ScopeKind.PROVIDER, target="fake"),
                mode=PauseMode.DRAIN,
                reason="maintenance",
                actor="ops",
                at=time.time(),
            )
        )
        time.sleep(0.6)  # past the pause cache
        with pytest.raises(Paused, match="maintenance"):
            b.ensure_session(SessionKey(user_id="alice", sandbox_id="sb"))
    finally:
        a.store.close()
        b.store.close()
