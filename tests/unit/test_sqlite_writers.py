"""SQLite writers queue for their turn (threads and processes alike) instead of sleeping in
SQLite's busy handler; a turn ends with its transaction, however it ends.

Every test turns SQLite's own busy wait off (``busy_timeout=0``): a writer that reached SQLite
while another held the lock would fail at once with "database is locked", so passing shows
that writers only ever reach SQLite one at a time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from computerouter.store.engine import create_engine

THREADS, WRITES = 8, 40


def no_busy_wait(engine: Engine) -> Engine:
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    return engine


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE n (id INTEGER PRIMARY KEY, v INTEGER)")
        conn.exec_driver_sql("INSERT INTO n VALUES (1, 0)")
    engine.dispose()
    return url


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT v FROM n WHERE id = 1").scalar_one())


def test_threads_take_turns(db: str) -> None:
    engine = no_busy_wait(create_engine(db))
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(WRITES):
                with engine.begin() as conn:
                    v = conn.exec_driver_sql("SELECT v FROM n WHERE id = 1").scalar_one()
                    conn.exec_driver_sql("UPDATE n SET v = ? WHERE id = 1", (v + 1,))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert count(engine) == THREADS * WRITES  # no lost update either


def test_a_failed_transaction_gives_its_turn_back(db: str) -> None:
    engine = no_busy_wait(create_engine(db))

    def breaks() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE n SET v = 99 WHERE id = 1")
            raise RuntimeError("the caller broke")

    with pytest.raises(RuntimeError):
        breaks()
    done = threading.Event()

    def write() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE n SET v = v + 1 WHERE id = 1")
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(10)
    assert done.is_set()
    assert count(engine) == 1  # the failed transaction wrote nothing


HOLDER = textwrap.dedent(
    """
    import sys, time
    from computerouter.store.engine import create_engine
    engine = create_engine(sys.argv[1])
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE n SET v = v + 100 WHERE id = 1")
        print("holding", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def holder(db: str, hold_s: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db, str(hold_s)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "holding"
    return process


def test_a_writer_in_another_process_is_waited_for(db: str) -> None:
    process = holder(db, 1.0)
    engine = no_busy_wait(create_engine(db))
    with engine.begin() as conn:  # waits for the other process's turn, then takes its own
        conn.exec_driver_sql("UPDATE n SET v = v + 1 WHERE id = 1")
    assert process.wait(30) == 0
    assert count(engine) == 101


def test_a_writer_that_dies_lets_go(db: str) -> None:
    process = holder(db, 600)
    engine = no_busy_wait(create_engine(db))
    timer = threading.Timer(0.5, os.kill, (process.pid, signal.SIGKILL))
    timer.start()
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE n SET v = v + 1 WHERE id = 1")
    timer.join()
    process.wait(30)
    assert count(engine) == 1  # the killed one's transaction never committed
