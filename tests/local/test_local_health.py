"""Polling a runtime's health over a unix socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from computerouter.providers.local.health import health_status, wait_healthy


@contextmanager
def server(path: Path, status: int, *, delay_s: float = 0.0) -> Iterator[None]:
    """A one-thread HTTP responder on a unix socket, started after ``delay_s``."""
    stop = threading.Event()

    def serve() -> None:
        time.sleep(delay_s)
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(str(path))
            listener.listen(8)
            listener.settimeout(0.05)
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                with conn:
                    conn.recv(1024)
                    conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_status_of_a_live_server(tmp_path: Path) -> None:
    sock = tmp_path / "s.sock"
    with server(sock, 503):
        deadline = time.monotonic() + 2
        while health_status(str(sock), "/health", timeout_s=1) is None:
            assert time.monotonic() < deadline
        assert health_status(str(sock), "/health", timeout_s=1) == 503


def test_nothing_listening_is_none(tmp_path: Path) -> None:
    assert health_status(str(tmp_path / "absent.sock"), "/health", timeout_s=0.1) is None


def test_wait_healthy_waits_for_a_late_server(tmp_path: Path) -> None:
    sock = tmp_path / "s.sock"
    with server(sock, 200, delay_s=0.1):
        started = time.monotonic()
        assert wait_healthy(str(sock), "/health", timeout_s=5)
        assert 0.05 <= time.monotonic() - started < 2  # it did wait (the thread began first)


def test_wait_healthy_gives_up_at_the_deadline_and_on_death(tmp_path: Path) -> None:
    sock = str(tmp_path / "absent.sock")
    started = time.monotonic()
    assert not wait_healthy(sock, "/health", timeout_s=0.2)
    assert 0.2 <= time.monotonic() - started < 1
    started = time.monotonic()
    assert not wait_healthy(sock, "/health", timeout_s=10, alive=lambda: False)
    assert time.monotonic() - started < 0.5
