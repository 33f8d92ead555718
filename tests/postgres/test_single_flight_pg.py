from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from computerouter.store import open_store

pytestmark = pytest.mark.postgres
WORKER = Path(__file__).with_name("worker.py")


def test_two_control_planes_fifty_calls_one_session(pg_url: str, tmp_path: Path) -> None:
    start_at = time.time() + 3.0  # both processes fire together, after their imports
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), pg_url, str(tmp_path / f"cp{i}"), "25", str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    ids = {i for r in results for i in r["ids"]}
    assert len(ids) == 1, results
    assert sum(r["creates"] for r in results) == 1, results
    store = open_store(pg_url)
    try:
        rows = store.sessions.list(user_id="alice")
        assert [r.id for r in rows] == list(ids)
        assert rows[0].state.value == "running"
    finally:
        store.close()


def test_migrations_and_cas_on_postgres(pg_url: str) -> None:
    from computerouter.domain.states import SessionState
    from computerouter.errors import StaleState

    store = open_store(pg_url)
    again = open_store(pg_url)  # second open finds the schema at head
    try:
        from computerouter.compute.router import ComputeRouter
        from computerouter.config import Settings
        from computerouter.domain.values import SessionKey
        from computerouter.testing import FakeProvider, FakeRuntime

        router = ComputeRouter(
            store=store,
            providers={"fake": FakeProvider()},
            runtimes={"fake": FakeRuntime()},
            settings=Settings.load(env={}, default_provider="fake", default_runtime="fake"),
        )
        session = router.ensure_session(SessionKey(user_id="u", sandbox_id="s"))
        with pytest.raises(StaleState):
            again.sessions.transition(
                session.id,
                expected=SessionState.SUSPENDED,
                target=SessionState.RESUMING,
                now=time.time(),
            )
        assert again.sessions.require(session.id).state is SessionState.RUNNING
    finally:
        store.close()
        again.close()
