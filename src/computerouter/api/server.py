"""The app ``computerouter serve`` serves, built alike in its own process and in each worker.

With one worker ``serve`` builds it in-process (:func:`served_app`) and hands it to uvicorn;
with ``--workers N`` uvicorn's supervisor spawns N processes and each calls
:func:`worker_app`, which reads the settings from the environment the supervisor handed over
and builds the same app. Each worker is then a replica on the one store, like several
``serve`` processes: runs are journalled to the store and cancelled through it, and each has
its own owner; nothing is shared in memory, so rate limits are per worker.

:data:`UVICORN_LOOP` and :data:`UVICORN_HTTP` are the event loop and HTTP parser uvicorn is
given (``auto``: uvloop and httptools, which are dependencies, where they install), kept here
so anything measured against ``serve`` (``bench/api.py``'s empty app) runs on the same ones.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

from computerouter.agents.factory import agent_router_for
from computerouter.api.app import create_app
from computerouter.compute.factory import open_router
from computerouter.compute.router import ComputeRouter
from computerouter.concierge import Concierge
from computerouter.config import Settings
from computerouter.errors import ComputeRouterError
from computerouter.ledger import Ledger
from computerouter.log_format import configure_logging

__all__ = ["UVICORN_HTTP", "UVICORN_LOOP", "Served", "served_app", "worker_app"]

log = logging.getLogger(__name__)

UVICORN_LOOP: Final = "auto"
UVICORN_HTTP: Final = "auto"


@dataclass(frozen=True, kw_only=True)
class Served:
    """An app ready to serve and what :meth:`close` stops once it no longer serves."""

    app: FastAPI
    concierge: Concierge
    ledger: Ledger | None

    def close(self) -> None:
        """Stop the Concierge's endpoint; settle what the ledger has queued."""
        self.concierge.close()
        if self.ledger is not None:
            self.ledger.close()


def served_app(compute: ComputeRouter, settings: Settings, *, host: str, port: int) -> Served:
    """The app over ``compute``, its Concierge calling this server's API at ``host:port``
    (over loopback when bound to every address), its ledger grouping settles."""
    agents = agent_router_for(compute)
    # The Concierge's tools call this server's API as the caller, over loopback when it can.
    own = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    own = f"[{own}]" if ":" in own else own
    helper = Concierge(agents, api_url=lambda: f"http://{own}:{port}")
    app = create_app(agents=agents, settings=settings, concierge=helper)
    gate = compute.credit_gate
    ledger = gate if isinstance(gate, Ledger) else None
    if ledger is not None:
        ledger.group_settles()  # many runs end at once on a server: one commit per batch
    return Served(app=app, concierge=helper, ledger=ledger)


def worker_app() -> FastAPI:
    """uvicorn's app factory in each worker process of ``serve --workers N``: the settings
    from this process's environment (``serve`` put its overrides there, the bind address
    included), logging configured, everything closed when the worker stops."""
    try:
        settings = Settings.load()
        configure_logging(settings.log_format)
        compute = open_router(settings)
        served = served_app(compute, settings, host=settings.api_host, port=settings.api_port)
    except ComputeRouterError as exc:
        # One line, and the exit code that tells the supervisor not to start it again: a
        # worker that cannot be built would fail the same way each time.
        log.error("worker %d cannot start: %s", os.getpid(), exc)
        sys.exit(STARTUP_FAILURE)
    _close_on_shutdown(served.app, served.close, compute.store.close)
    return served.app


def _close_on_shutdown(app: FastAPI, *closers: Callable[[], None]) -> None:
    """Run ``closers`` after the app's own lifespan ends (uvicorn's shutdown)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[None]:
        async with inner(running):
            yield
        for close in closers:
            close()

    app.router.lifespan_context = lifespan
