"""The lifecycle pass drops run tokens expired more than a day ago (they can never verify
again) and keeps every other."""

from __future__ import annotations

from pathlib import Path

from computerouter.agents.run_token import RunTokens
from computerouter.compute.lifecycle import RUN_TOKEN_KEEP_S, lifecycle_pass
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.store import open_store
from computerouter.store.run_tokens import RunTokenStore
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime


def test_a_pass_purges_long_expired_run_tokens_only(tmp_path: Path) -> None:
    settings = Settings.load(env={}, home=tmp_path, default_provider="fake")
    store = open_store(settings.effective_database_url)
    clock = FakeClock()
    router = ComputeRouter(
        store=store,
        providers={"fake": FakeProvider("fake")},
        runtimes={"fake": FakeRuntime()},
        settings=settings,
        clock=clock,
    )
    tokens = RunTokens(RunTokenStore(store.engine), clock=clock)
    start = clock.now()

    def issue(run_id: str, expires_in_s: float) -> str:
        token, _ = tokens.issue(
            user_id="alice",
            sandbox_id="sb",
            agent_id="agt_a",
            run_id=run_id,
            expires_at=start + expires_in_s,
        )
        return token.id

    long_gone = issue("run_old", 60)
    recently = issue("run_recent", RUN_TOKEN_KEEP_S)
    live = issue("run_live", 3 * RUN_TOKEN_KEEP_S)
    clock.advance(RUN_TOKEN_KEEP_S + 120)
    lifecycle_pass(router)

    kept = RunTokenStore(store.engine)
    assert kept.get(long_gone) is None
    assert kept.get(recently) is not None  # expired a minute ago: kept for a day
    assert kept.get(live) is not None
    store.close()
