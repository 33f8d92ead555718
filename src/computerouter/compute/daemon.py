"""The lifecycle daemon: one small process per home that runs the lifecycle for the embedded CLI.

The command line starts it on demand (:func:`ensure_daemon`) when a command leaves a session
live; it runs a lifecycle pass every ``lifecycle_interval_s`` and exits by itself when no
session needs one, when its home is deleted, or on ``computerouter daemon stop``
(:func:`stop_daemon`). The body of the process is :func:`run_daemon`.

Exactly one per home. The daemon holds ``HOME/daemon/lifecycle.lock`` (see
:mod:`.daemon_files`) for as long as it serves; a second daemon fails to take it and exits, so
starters may race freely. Leaving is a hand-over, so a session made while the daemon decides to
go is never left without one: the daemon gives the lock up, then looks at the sessions once
more and takes the lock back if one appeared. A starter writes its session first and probes the
lock second: if it sees the lock held, the holder had not yet given it up, so its last look
comes after the session was written and sees it.

Detached properly: its own session (no controlling terminal, no signal from the caller's
terminal), stdin from ``/dev/null``, stdout and stderr into its log, no other inherited
descriptor, working directory ``/``. A CI job waiting on its commands' pipes never waits on it.

With PostgreSQL, control planes on several hosts share the sessions; each home's daemon runs the
same pass, and the pass is safe to run concurrently (see :mod:`.lifecycle`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from computerouter.compute.daemon_files import (
    DaemonFiles,
    DaemonStatus,
    HomeLock,
    daemon_status,
    lock_held,
    read_pid,
    read_status_file,
    remove_quietly,
    write_atomic,
)
from computerouter.compute.factory import open_router
from computerouter.compute.lifecycle_loop import LifecycleLoop, LoopExit, PassOutcome
from computerouter.compute.owner import current_owner, stat_fields
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.errors import ComputeRouterError, ConfigError
from computerouter.log_format import IdsFilter, JsonFormatter

__all__ = ["daemon_status", "ensure_daemon", "run_daemon", "stop_daemon"]

log = logging.getLogger("computerouter.lifecycle")

LOG_MAX_BYTES = 1 << 20
"""Past this size the log is moved to ``lifecycle.log.1`` when a daemon is started."""

_spawned: list[subprocess.Popen[bytes]] = []  # kept so they are not reported as leaked


def _check(settings: Settings) -> None:
    if not settings.lifecycle_interval_s > 0:
        raise ConfigError(
            f"lifecycle_interval_s must be more than zero, not {settings.lifecycle_interval_s}"
        )


def ensure_daemon(settings: Settings, *, wait_s: float = 0.0) -> DaemonStatus:
    """Start the home's daemon unless one runs; never a second one. With ``wait_s``, wait
    that long for it to be up, and report it."""
    _check(settings)
    files = DaemonFiles.of(settings.home)
    files.dir.mkdir(parents=True, exist_ok=True)
    if not lock_held(files.lock):
        _spawn(settings, files)
    deadline = time.monotonic() + wait_s
    while True:
        status = daemon_status(settings.home)
        if (status.running and status.pid is not None) or time.monotonic() >= deadline:
            return status
        time.sleep(0.05)


def _spawn(settings: Settings, files: DaemonFiles) -> None:
    for done in [p for p in _spawned if p.poll() is not None]:
        _spawned.remove(done)
    with contextlib.suppress(OSError):
        if files.log.stat().st_size > LOG_MAX_BYTES:
            files.log.replace(files.log.with_name(files.log.name + ".1"))
    home = str(settings.home.absolute())  # it runs in /, not in the caller's directory
    env = {**os.environ, "COMPUTEROUTER_HOME": home}
    if settings.database_url:
        env["COMPUTEROUTER_DATABASE_URL"] = settings.database_url  # not on the command line
    command = [sys.executable, "-m", "computerouter", "--home", home, "daemon", "run"]
    with open(os.devnull, "rb") as devnull, open(files.log, "ab") as out:
        _spawned.append(
            subprocess.Popen(
                command,
                stdin=devnull,
                stdout=out,
                stderr=out,
                start_new_session=True,
                close_fds=True,
                cwd="/",
                env=env,
            )
        )


def stop_daemon(home: Path, *, timeout_s: float = 30.0) -> DaemonStatus:
    """Ask the home's daemon to stop (SIGTERM: it finishes the pass it is in) and wait until it
    has. Returns its status from before; ``running`` false when there was none."""
    before = daemon_status(home)
    if not before.running:
        return before
    deadline = time.monotonic() + timeout_s
    files = DaemonFiles.of(home)
    pid = before.pid
    while pid is None and lock_held(files.lock) and time.monotonic() < deadline:
        time.sleep(0.05)  # a daemon between taking the lock and writing its pid
        found = read_pid(files)
        pid = None if found is None else found[0]
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    while lock_held(files.lock) or (pid is not None and _running(pid)):
        if time.monotonic() >= deadline:
            raise ComputeRouterError(
                f"the lifecycle daemon (pid {pid}) did not stop within {timeout_s:.0f} s"
            )
        time.sleep(0.05)
    return before


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie awaiting its parent has ended)."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


class _Recorder:
    """Keeps ``lifecycle.status.json`` current: written by the lock holder only."""

    def __init__(self, files: DaemonFiles) -> None:
        self.files = files
        self.data: dict[str, object] = {
            "pid": os.getpid(),
            "started_at": time.time(),
            "passes": 0,
        }
        previous = read_status_file(files)
        for key in ("last_pass_at", "last_outcome"):
            if key in previous:
                self.data[key] = previous[key]

    def claimed(self) -> None:
        write_atomic(self.files.pid, f"{os.getpid()}\n{current_owner()}\n")
        self._write()

    def on_pass(self, outcome: PassOutcome) -> None:
        passes = self.data.get("passes")
        self.data["passes"] = (passes if isinstance(passes, int) else 0) + 1
        self.data["last_pass_at"] = time.time()
        self.data["last_outcome"] = outcome.describe()
        self._write()

    def leaving(self, why: str) -> None:
        """Before the lock is given up: the pid file goes, the status says why."""
        remove_quietly(self.files.pid)
        self.data["exited_at"] = time.time()
        self.data["exit_reason"] = why
        self._write()
        self.data.pop("exited_at")
        self.data.pop("exit_reason")

    def _write(self) -> None:
        try:
            write_atomic(self.files.status, json.dumps(self.data, indent=1) + "\n")
        except OSError as exc:  # the home may be going away; the loop notices that
            log.warning("cannot write %s: %s", self.files.status, exc)


def _log_to(files: DaemonFiles, log_format: str) -> None:
    handler = logging.FileHandler(files.log)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
        handler.addFilter(IdsFilter())
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s [{os.getpid()}] %(message)s")
        )
    root = logging.getLogger("computerouter")
    root.addHandler(handler)
    if sys.stderr is not None and sys.stderr.isatty():  # ``daemon run`` by hand, in a terminal
        root.addHandler(logging.StreamHandler())
    root.setLevel(logging.INFO)


def run_daemon(settings: Settings) -> LoopExit | None:
    """The daemon process: serve ``settings.home`` until nothing needs it. ``None`` when
    another daemon already serves it (this one then exits at once)."""
    _check(settings)
    # Bad settings (an unusable database URL, say) are refused before anything is written.
    router = open_router(settings)
    files = DaemonFiles.of(settings.home)
    files.dir.mkdir(parents=True, exist_ok=True)
    _log_to(files, settings.log_format)
    lock = HomeLock(files.lock)
    # Retry a moment: a starter or ``daemon status`` probing the lock holds it for microseconds.
    if not lock.acquire(within_s=2.0):
        found = read_pid(files)
        log.info(
            "another lifecycle daemon%s serves %s; exiting",
            "" if found is None else f" (pid {found[0]})",
            settings.home,
        )
        router.store.close()
        return None
    recorder = _Recorder(files)
    try:
        recorder.claimed()
        return _serve(settings, router, lock, recorder)
    except BaseException as exc:
        log.error("exiting: %s", exc or type(exc).__name__)
        raise
    finally:
        if lock.held:
            if lock.still_ours():
                recorder.leaving("stopped by an error")
            lock.release()
        router.store.close()


def _serve(
    settings: Settings, router: ComputeRouter, lock: HomeLock, recorder: _Recorder
) -> LoopExit:
    loop = LifecycleLoop(
        router=router,
        interval_s=settings.lifecycle_interval_s,
        abandoned=lambda: not lock.still_ours(),
        on_pass=recorder.on_pass,
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping after the current pass", signal.Signals(signum).name)
        loop.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    log.info(
        "lifecycle daemon started for %s: a pass every %.1f s",
        settings.home,
        settings.lifecycle_interval_s,
    )
    while True:
        why = loop.run()
        if why is LoopExit.ABANDONED:
            log.info("exiting: its home %s is gone", settings.home)
            return why
        recorder.leaving(why.value)
        lock.release()
        if why is not LoopExit.NOTHING_LIVE or not loop.needed():
            log.info("exiting: %s (%d passes)", why.value, loop.passes)
            return why
        # A session appeared while leaving: serve on, unless a new daemon took over.
        if not lock.acquire(within_s=1.0):
            log.info("exiting: a new lifecycle daemon serves %s", settings.home)
            return why
        recorder.claimed()
