"""A session archived on Daytona (emulated) moves to ``local`` while Daytona is down: its
workspace comes along from the router's portable copy, nothing is kept twice, and a crash at
any step of the move loses nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from computerouter.compute.factory import open_router
from computerouter.compute.reconciler import reconcile
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.session import SessionRecord
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.emulators.daytona import EmulatorServer
from computerouter.errors import SessionUnavailable
from computerouter.faults import ENV
from computerouter.runtimes.transport import client_for
from computerouter.testing.environment import child_env

pytestmark = pytest.mark.isolation

KEY = SessionKey(user_id="alice", sandbox_id="box")
BOTH = ("daytona", "local")
S = SessionState


def _env(emulator: EmulatorServer) -> dict[str, str]:
    return {
        "COMPUTEROUTER_DAYTONA_API_URL": emulator.api_url,
        "COMPUTEROUTER_DAYTONA_API_KEY": "emulator-key",
    }


def _open(emulator: EmulatorServer, home: Path) -> ComputeRouter:
    return open_router(
        Settings.load(env=_env(emulator), home=home, lifecycle_daemon=False, billing=False)
    )


@pytest.fixture
def router(emulator: EmulatorServer, tmp_path: Path) -> Iterator[ComputeRouter]:
    made = _open(emulator, tmp_path / "home")
    try:
        yield made
    finally:
        httpx.delete(f"{emulator.base_url}/admin/faults")
        for session in made.store.sessions.list():
            if session.state not in (S.DESTROYED, S.FAILED):
                made.destroy(session.id)
        made.store.close()


def _down(emulator: EmulatorServer) -> None:
    for route in ("/api/", "/toolbox/"):
        fault = {"route": route, "status": 503, "message": "injected outage", "count": 10_000}
        httpx.post(f"{emulator.base_url}/admin/faults", json=fault).raise_for_status()


def _up(emulator: EmulatorServer) -> None:
    httpx.delete(f"{emulator.base_url}/admin/faults").raise_for_status()


def _archived_on_daytona(router: ComputeRouter, note: bytes) -> SessionRecord:
    session = router.ensure_session(KEY, provider="daytona", runtime="echo")
    assert session.endpoint is not None
    with client_for(session.endpoint) as client:
        assert client.put("/v1/workspace/notes.txt", content=note).status_code == 200
    archived = router.archive(session.id)
    assert archived.state is S.ARCHIVED
    assert router.copies.usable(archived) is not None
    return archived


def _note(session: SessionRecord) -> bytes:
    assert session.endpoint is not None
    with client_for(session.endpoint) as client:
        return client.get("/v1/workspace/notes.txt").content


def test_a_session_moves_off_a_provider_that_is_down_with_its_workspace(
    router: ComputeRouter, emulator: EmulatorServer
) -> None:
    archived = _archived_on_daytona(router, b"kept across the move")
    old_instance = archived.instance_id
    _down(emulator)

    moved = router.ensure_session(KEY, provider=BOTH, runtime="echo", move_when_down=True)

    assert moved.id == archived.id, "the same session, on another provider"
    assert (moved.provider, moved.state) == ("local", S.RUNNING)
    assert moved.instance_id != old_instance
    assert _note(moved) == b"kept across the move"
    assert not router.copies.path(moved.id).exists(), "the copy goes once the move is recorded"
    reasons = [row.reason for row in router.store.sessions.history(moved.id)]
    assert any(r.startswith("moved from daytona to local") for r in reasons), reasons

    # Daytona answers again: the archive it still holds belongs to no session there any more.
    _up(emulator)
    report = reconcile(router)
    assert old_instance in report.orphans_destroyed
    assert router.providers["daytona"].list() == []
    assert router.get(moved.id).provider == "local"


def test_without_leave_to_move_the_session_waits_for_its_provider(
    router: ComputeRouter, emulator: EmulatorServer
) -> None:
    archived = _archived_on_daytona(router, b"waits")
    _down(emulator)

    with pytest.raises(SessionUnavailable):
        router.ensure_session(KEY, provider=BOTH, runtime="echo")

    after = router.get(archived.id)
    assert (after.provider, after.state) == ("daytona", S.ARCHIVED)
    assert router.providers["local"].list() == []
    _up(emulator)
    back = router.ensure_session(KEY, provider=BOTH, runtime="echo", move_when_down=True)
    assert (back.provider, _note(back)) == ("daytona", b"waits")
    assert router.copies.usable(router.get(back.id)) is None


def test_a_pin_to_the_provider_that_is_down_is_never_moved(
    router: ComputeRouter, emulator: EmulatorServer
) -> None:
    archived = _archived_on_daytona(router, b"pinned")
    _down(emulator)

    with pytest.raises(SessionUnavailable, match="no other could take it"):
        router.ensure_session(KEY, provider="daytona", runtime="echo", move_when_down=True)

    after = router.get(archived.id)
    assert (after.provider, after.state) == ("daytona", S.ARCHIVED)
    assert router.copies.usable(after) is not None, "the copy waits for a later move"


def test_once_its_circuit_is_open_the_dead_provider_is_not_called_again(
    router: ComputeRouter, emulator: EmulatorServer
) -> None:
    first = _archived_on_daytona(router, b"one")
    other = SessionKey(user_id="alice", sandbox_id="box2")
    second = router.archive(router.ensure_session(other, provider="daytona", runtime="echo").id)
    _down(emulator)
    router.ensure_session(KEY, provider=BOTH, runtime="echo", move_when_down=True)
    calls = emulator.emulator.faults.fired()
    assert calls > 0, "positive control: the first move found Daytona down by calling it"

    moved = router.ensure_session(other, provider=BOTH, runtime="echo", move_when_down=True)

    assert moved.provider == "local"
    assert router.get(first.id).provider == "local"
    assert second.id == moved.id
    assert emulator.emulator.faults.fired() == calls, "no call to a provider known to be down"


_MOVE = """
import sys
from computerouter.compute.factory import open_router
from computerouter.config import Settings
from computerouter.domain.values import SessionKey
router = open_router(Settings.load(lifecycle_daemon=False, billing=False))
router.ensure_session(
    SessionKey(user_id="alice", sandbox_id="box"),
    provider=("daytona", "local"),
    runtime="echo",
    move_when_down=True,
)
"""


@pytest.mark.parametrize("point", ["move.claimed", "local.create.seeded", "move.created"])
def test_a_crash_at_any_step_of_a_move_loses_nothing_and_keeps_nothing_twice(
    router: ComputeRouter, emulator: EmulatorServer, tmp_path: Path, point: str
) -> None:
    archived = _archived_on_daytona(router, b"survives a crash")
    _down(emulator)
    env = child_env()
    env.update(_env(emulator), COMPUTEROUTER_HOME=str(tmp_path / "home"), **{ENV: point})

    died = subprocess.run(
        [sys.executable, "-c", _MOVE], env=env, capture_output=True, timeout=120, check=False
    )

    assert died.returncode == -signal.SIGKILL, died.stderr.decode()[-2000:]
    mid = router.get(archived.id)
    assert (mid.provider, mid.state) == ("daytona", S.RESUMING)
    # The dead claim is finished once its provider answers: back to its archive there; the
    # instance the move had begun on local is an orphan and goes.
    _up(emulator)
    router.clock = _Later(router.clock, router.settings.lease_s + 1)
    reconcile(router)
    after = router.get(archived.id)
    assert (after.provider, after.state) == ("daytona", S.ARCHIVED)
    assert router.providers["local"].list() == []
    assert router.copies.usable(after) is not None

    _down(emulator)
    moved = router.ensure_session(KEY, provider=BOTH, runtime="echo", move_when_down=True)
    assert (moved.provider, _note(moved)) == ("local", b"survives a crash")


class _Later:
    """The router's clock, ``ahead_s`` later: a dead owner's lease has run out."""

    def __init__(self, clock: object, ahead_s: float) -> None:
        self._clock = clock
        self._ahead_s = ahead_s

    def now(self) -> float:
        return self._clock.now() + self._ahead_s  # type: ignore[attr-defined, no-any-return]

    def sleep(self, seconds: float) -> None:
        self._clock.sleep(seconds)  # type: ignore[attr-defined]
