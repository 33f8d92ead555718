"""One control-plane process: N threads call ensure_session for one key; prints what it saw."""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.values import SessionKey
from computerouter.store import open_store
from computerouter.testing import FakeProvider, FakeRuntime


def main() -> None:
    url, home, threads, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    settings = Settings.load(
        env={},
        home=Path(home),
        database_url=url,
        default_provider="fake",
        default_runtime="fake",
        wait_timeout_s=60,
    )
    store = open_store(url)
    provider = FakeProvider(create_delay_s=0.2)
    router = ComputeRouter(
        store=store,
        providers={"fake": provider},
        runtimes={"fake": FakeRuntime()},
        settings=settings,
    )
    key = SessionKey(user_id="alice", sandbox_id="shared")
    barrier = threading.Barrier(threads)

    def call(_: int) -> str:
        barrier.wait()
        return router.ensure_session(key).id

    time.sleep(max(0.0, start_at - time.time()))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        ids = list(pool.map(call, range(threads)))
    print(json.dumps({"ids": sorted(set(ids)), "creates": provider.count()}))


if __name__ == "__main__":
    main()
