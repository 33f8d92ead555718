"""``computerouter serve [--host H] [--port P] [--workers N]``: the HTTP API on uvicorn.

A serving process runs the lifecycle itself (a pass every ``lifecycle_interval_s``: reconcile,
reap, ledger repair), so sessions made through the API suspend and archive on time; when it
stops with sessions still live, the home's on-demand lifecycle daemon takes over.

With ``--workers N`` (more than one) uvicorn's supervisor runs N worker processes on the one
port and starts a new one when one dies. Each builds the same app from the settings it reads
again (this process hands over its bind address and global options in the environment) and is
a replica on the store, as several ``serve`` processes are; the lifecycle runs once, here.
"""

from __future__ import annotations

import os
import threading
from typing import Annotated

import typer

from computerouter.agents.model import ensure_standin
from computerouter.cli.context import get_context
from computerouter.cli.daemon import lifecycle_on_demand
from computerouter.cli.render import err_console
from computerouter.compute.lifecycle_loop import LifecycleLoop
from computerouter.domain.limits import MAX_API_WORKERS, check_api_workers
from computerouter.errors import InputError
from computerouter.ledger import Ledger
from computerouter.log_format import configure_logging
from computerouter.secrets.api_keys import ApiKeys
from computerouter.store.api_keys import ApiKeyStore

__all__ = ["serve"]

WORKER_APP = "computerouter.api.server:worker_app"


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Bind address [env: COMPUTEROUTER_API_HOST; 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port [env: COMPUTEROUTER_API_PORT; 8321].")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help=(
                f"Worker processes, 1-{MAX_API_WORKERS}, each a replica on the store; rate "
                "limits are per worker [env: COMPUTEROUTER_API_WORKERS; 1]."
            )
        ),
    ] = None,
) -> None:
    """Serve the REST, SSE and OpenAI-compatible API (every request needs an API key).

    With --workers N, N processes answer on the one port (a dead one is replaced) and the
    lifecycle runs once, in the supervising process; each worker keeps its own rate limits.
    """
    import uvicorn

    from computerouter.api.server import UVICORN_HTTP, UVICORN_LOOP, served_app

    cli = get_context(ctx)
    settings = cli.settings
    bind_host = host or settings.api_host
    bind_port = settings.api_port if port is None else port
    if not 0 < bind_port < 65536:
        raise InputError(f"port {bind_port} is not a valid TCP port")
    processes = check_api_workers(settings.api_workers if workers is None else workers)
    compute = cli.router
    if settings.uses_standin_model:
        ensure_standin(settings)
    served = None
    if processes == 1:
        served = served_app(compute, settings, host=bind_host, port=bind_port)
    elif isinstance(compute.credit_gate, Ledger):
        compute.credit_gate.group_settles()  # the lifecycle's own settles, as with one worker
    keys = ApiKeys(ApiKeyStore(compute.store.engine), pepper=settings.api_key_pepper)
    if not any(not k.revoked for k in keys.list()):
        err_console.print(
            "[yellow]no API keys yet: every request will be refused; "
            "create one with `computerouter keys create --user U`[/]"
        )
    configure_logging(settings.log_format)
    gate = compute.credit_gate
    loop = LifecycleLoop(
        router=compute,
        interval_s=settings.lifecycle_interval_s,
        ledger=gate if isinstance(gate, Ledger) else None,
    )
    stop = threading.Event()
    lifecycle = threading.Thread(
        target=_lifecycle, args=(loop, stop), name="lifecycle", daemon=True
    )
    lifecycle.start()
    lifecycle_on_demand(ctx)  # once serve stops, live sessions still suspend and archive
    err_console.print(
        f"computerouter API on http://{bind_host}:{bind_port} (OpenAPI: /openapi.json), "
        f"{processes} worker{'s' if processes > 1 else ''}"
    )
    if served is None:
        # The workers are spawned afresh and read their settings from the environment.
        os.environ.update(
            cli.overrides_environment(),
            COMPUTEROUTER_API_HOST=bind_host,
            COMPUTEROUTER_API_PORT=str(bind_port),
        )
    try:
        uvicorn.run(
            served.app if served is not None else WORKER_APP,
            factory=served is None,
            workers=None if served is not None else processes,
            host=bind_host,
            port=bind_port,
            loop=UVICORN_LOOP,
            http=UVICORN_HTTP,
            log_level="warning",
            access_log=False,
        )
    finally:
        stop.set()
        if served is not None:
            served.concierge.close()
        lifecycle.join(30)
        if isinstance(gate, Ledger):
            gate.close()


def _lifecycle(loop: LifecycleLoop, stop: threading.Event) -> None:
    """A pass every interval until ``stop``, whether or not anything is live (the server may
    make a session at any time)."""
    while not stop.is_set():
        loop.run_once()
        stop.wait(loop.interval_s)
