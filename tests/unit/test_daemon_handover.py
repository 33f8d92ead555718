"""The daemon's way out: a session written while it leaves is still served.

The daemon gives up its lock, then looks at the sessions once more. Here a session is made at
the worst moment, right as the lock is given up (as a starter probing the lock just then would
see it free or held, and rely on that): the daemon takes the lock back and serves it to the end.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from computerouter.compute.daemon import _Recorder, _serve
from computerouter.compute.daemon_files import DaemonFiles, HomeLock, daemon_status, lock_held
from computerouter.compute.lifecycle_loop import LoopExit
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.session import SandboxSettings
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.store import Store
from computerouter.testing import FakeProvider, FakeRuntime

KEY = SessionKey(user_id="alice", sandbox_id="late")


@pytest.fixture(autouse=True)
def _keep_signal_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


class _SessionAppearsOnRelease(HomeLock):
    def __init__(self, path: Path, router: ComputeRouter) -> None:
        super().__init__(path)
        self.router = router
        self.releases = 0

    def release(self) -> None:
        super().release()
        self.releases += 1
        if self.releases == 1:
            self.router.ensure_session(KEY)


def test_a_session_made_while_the_daemon_leaves_is_served(store: Store, tmp_path: Path) -> None:
    settings = Settings.load(
        env={},
        home=tmp_path,
        default_provider="fake",
        default_runtime="fake",
        lifecycle_interval_s=0.05,
    )
    router = ComputeRouter(
        store=store,
        providers={"fake": FakeProvider()},
        runtimes={"fake": FakeRuntime()},
        settings=settings,
    )
    store.sandboxes.put(
        SandboxSettings(user_id="alice", sandbox_id="late", idle_suspend_s=0.1, archive_after_s=0.3)
    )
    files = DaemonFiles.of(tmp_path)
    files.dir.mkdir()
    lock = _SessionAppearsOnRelease(files.lock, router)
    assert lock.acquire()

    why = _serve(settings, router, lock, _Recorder(files))

    assert why is LoopExit.NOTHING_LIVE
    # Given up once with nothing live, taken back for the late session, given up again at last.
    assert lock.releases == 2
    session = store.sessions.find_live(KEY)
    assert session is not None
    assert session.state is SessionState.ARCHIVED  # it was suspended and archived, on time
    assert not lock_held(files.lock)
    status = daemon_status(tmp_path)
    assert not status.running
    assert status.exit_reason == "no session needs the lifecycle"
    assert "archived (window) 1" in status.last_outcome
