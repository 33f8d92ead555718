"""``computerouter serve --workers N``: N worker processes under uvicorn's supervisor, each a
replica on the one store built from the settings the parent hands over (the global options
included); a worker that dies is replaced, SIGTERM stops them all; a bad N starts nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from served import CLI, serve
from uvicorn.config import STARTUP_FAILURE

from computerouter.api.server import worker_app
from computerouter.compute.owner import stat_fields
from computerouter.secrets.api_keys import ApiKeys
from computerouter.store import open_store
from computerouter.store.api_keys import ApiKeyStore
from computerouter.testing.leftovers import descendants

pytestmark = pytest.mark.timeout(120)


def _env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPUTEROUTER_")}
    return {
        **env,
        "COMPUTEROUTER_MODEL_BASE_URL": "http://127.0.0.1:9/v1",
        "COMPUTEROUTER_LIFECYCLE_DAEMON": "false",
        **more,
    }


def _key(database_url: str) -> str:
    store = open_store(database_url)
    try:
        _, secret = ApiKeys(ApiKeyStore(store.engine), pepper="").create("alice")
    finally:
        store.close()
    return secret


def _alive(pid: int) -> bool:
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def _workers(parent: int) -> set[int]:
    """The live worker processes uvicorn's supervisor ``parent`` spawned."""
    found = set()
    for pid in descendants(parent):
        fields = stat_fields(pid)
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if fields and fields[1] == str(parent) and fields[0] != "Z" and b"spawn_main" in command:
            found.add(pid)
    return found


def _wait_for(what: str, check: object, timeout_s: float = 30) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_two_workers_answer_survive_a_killed_worker_and_stop_together(tmp_path: Path) -> None:
    home, db = tmp_path / "home", tmp_path / "elsewhere.db"
    home.mkdir()
    secret = _key(f"sqlite:///{db}")  # a key only the --database-url store holds
    auth = {"Authorization": f"Bearer {secret}"}
    # Home and database come from global options only: the workers must be handed them.
    options = ("--home", str(home), "--database-url", f"sqlite:///{db}")
    env = _env(HOME=str(tmp_path))  # a worker that missed them makes nothing in the real ~
    with serve(env, "--workers", "2", cli_options=options) as served:
        _wait_for("two workers", lambda: len(_workers(served.process.pid)) == 2)
        first = _workers(served.process.pid)
        for _ in range(6):
            answer = httpx.get(f"{served.url}/v1/me", headers=auth)
            assert answer.status_code == 200, answer.text
            assert answer.json()["user_id"] == "alice"
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        for _ in range(6):  # the other worker answers meanwhile
            assert httpx.get(f"{served.url}/v1/models", headers=auth).status_code == 200
        _wait_for(
            "the killed worker replaced",
            lambda: len(now := _workers(served.process.pid)) == 2 and victim not in now,
        )
        replaced = _workers(served.process.pid)
        assert len(replaced & first) == 1
        _wait_for(
            "every worker answering",
            lambda: all(
                httpx.get(f"{served.url}/v1/models", headers=auth).status_code == 200
                for _ in range(8)
            ),
        )
    assert served.process.returncode == 0, served.stderr[0]
    for pid in first | replaced:
        _wait_for(f"worker {pid} stopped", lambda pid=pid: not _alive(pid), timeout_s=10)
    assert f"computerouter API on {served.url}" in served.stderr[0]
    assert "2 workers" in served.stderr[0]
    assert "Traceback" not in served.stderr[0], served.stderr[0]


@pytest.mark.parametrize("workers", ["0", "65"])
def test_a_bad_number_of_workers_is_one_line_and_starts_nothing(
    tmp_path: Path, workers: str
) -> None:
    home = tmp_path / "home"
    done = subprocess.run(
        [*CLI, "--home", str(home), "serve", "--workers", workers],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error:")
    assert "workers" in line
    assert "1" in line
    assert "64" in line
    assert not home.exists()  # no store opened, nothing served


def test_a_worker_that_cannot_start_says_why_and_is_not_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in [k for k in os.environ if k.startswith("COMPUTEROUTER_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("COMPUTEROUTER_HOME", str(tmp_path))
    monkeypatch.setenv("COMPUTEROUTER_API_CORS_ORIGINS", "app.example")
    with pytest.raises(SystemExit) as exited:
        worker_app()
    # The code uvicorn's supervisor takes for "would fail the same way each time": it stops.
    assert exited.value.code == STARTUP_FAILURE
    (line,) = [r.getMessage() for r in caplog.records if "cannot start" in r.getMessage()]
    assert "setting api_cors_origins" in line
