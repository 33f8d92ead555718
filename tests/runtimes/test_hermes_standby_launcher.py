"""The standby launcher's side of a restore into a standby, without Hermes: it answers
``/standby`` while it waits, refuses a bad go, returns the environment of a good one, and lets
log files opened under ``HERMES_HOME`` before the unpack open again afterwards."""

from __future__ import annotations

import json
import logging
import socket
import threading
from pathlib import Path

import httpx

from computerouter.runtimes.hermes import standby_launcher
from computerouter.runtimes.hermes.runtime import (
    PREVIOUS_GATEWAY_FILES,
    STANDBY_CONFIG,
    STANDBY_PATH,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_waits_answering_standby_until_a_good_go() -> None:
    port = free_port()
    got: list[dict[str, str]] = []
    waiter = threading.Thread(target=lambda: got.append(standby_launcher.wait_for_go(port)))
    waiter.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            standby = httpx.get(base + STANDBY_PATH, timeout=1.0)
            break
        except httpx.ConnectError:
            threading.Event().wait(0.01)
    assert standby.status_code == 200
    assert httpx.get(base + "/health", timeout=1.0).status_code == 404  # not Hermes yet
    assert httpx.post(base + "/go", content=b"[1, 2]", timeout=1.0).status_code == 400
    assert httpx.post(base + "/go", json={"K": 1}, timeout=1.0).status_code == 400
    assert not got
    env = {"API_SERVER_KEY": "the-restored-session-key"}
    assert httpx.post(base + "/go", content=json.dumps(env), timeout=1.0).status_code == 202
    waiter.join(timeout=5)
    assert got == [env]
    # The listener is closed: Hermes's gateway takes the port from here on.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_log_files_under_the_home_open_again(tmp_path: Path) -> None:
    home = tmp_path / ".hermes"
    (home / "logs").mkdir(parents=True)
    logger = logging.getLogger("standby-test")
    handler = logging.FileHandler(home / "logs" / "agent.log")
    outside = logging.FileHandler(tmp_path / "other.log")
    logger.addHandler(handler)
    logger.addHandler(outside)
    try:
        logger.warning("before the unpack")
        # The unpack replaces the file the handler holds.
        (home / "logs" / "agent.log").unlink()
        (home / "logs" / "agent.log").write_text("restored\n")
        standby_launcher.reopen_logs(str(home))
        logger.warning("after the unpack")
        lines = (home / "logs" / "agent.log").read_text().splitlines()
        assert lines == ["restored", "after the unpack"]
        assert outside.stream is not None  # files elsewhere are left open
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(outside)
        handler.close()
        outside.close()


def test_the_previous_gateway_is_forgotten_and_nothing_else(tmp_path: Path) -> None:
    home = tmp_path / ".hermes"
    home.mkdir()
    for name in (*standby_launcher.PREVIOUS_GATEWAY_FILES, "state.db", "config.yaml"):
        (home / name).write_text(name)
    standby_launcher.forget_previous_gateway(str(home))
    standby_launcher.forget_previous_gateway(str(home))  # again: nothing left to forget
    assert sorted(p.name for p in home.iterdir()) == ["config.yaml", "state.db"]


def test_the_launcher_and_the_runtime_forget_the_same_files() -> None:
    assert standby_launcher.PREVIOUS_GATEWAY_FILES == PREVIOUS_GATEWAY_FILES
    assert standby_launcher.CONFIG_KEY == STANDBY_CONFIG
