"""``computerouter serve [--host H] [--port P]``: the HTTP API on uvicorn.

A serving process runs the lifecycle itself (a pass every ``lifecycle_interval_s``: reconcile,
reap, ledger repair), so sessions made through the API suspend and archive on time; when it
stops with sessions still live, the home's on-demand lifecycle daemon takes over.
"""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from computerouter.agents.factory import agent_router_for
from computerouter.agents.model import ensure_standin
from computerouter.cli.context import get_context
from computerouter.cli.daemon import lifecycle_on_demand
from computerouter.cli.render import err_console
from computerouter.compute.lifecycle_loop import LifecycleLoop
from computerouter.errors import InputError
from computerouter.ledger import Ledger
from computerouter.log_format import configure_logging
from computerouter.secrets.api_keys import ApiKeys
from computerouter.store.api_keys import ApiKeyStore

__all__ = ["serve"]


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Bind address [env: COMPUTEROUTER_API_HOST; 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port [env: COMPUTEROUTER_API_PORT; 8321].")
    ] = None,
) -> None:
    """Serve the REST, SSE and OpenAI-compatible API (every request needs an API key)."""
    import uvicorn

    from computerouter.api import create_app

    settings = get_context(ctx).settings
    bind_host = host or settings.api_host
    bind_port = settings.api_port if port is None else port
    if not 0 < bind_port < 65536:
        raise InputError(f"port {bind_port} is not a valid TCP port")
    agents = agent_router_for(get_context(ctx).router)
    if settings.uses_standin_model:
        ensure_standin(settings)
    from computerouter.concierge import Concierge

    # The Concierge's tools call this server's API as the caller, over loopback when it can.
    own = "127.0.0.1" if bind_host in ("0.0.0.0", "::", "") else bind_host
    own = f"[{own}]" if ":" in own else own
    helper = Concierge(agents, api_url=lambda: f"http://{own}:{bind_port}")
    app = create_app(agents=agents, settings=settings, concierge=helper)
    keys = ApiKeys(ApiKeyStore(agents.compute.store.engine), pepper=settings.api_key_pepper)
    if not any(not k.revoked for k in keys.list()):
        err_console.print(
            "[yellow]no API keys yet: every request will be refused; "
            "create one with `computerouter keys create --user U`[/]"
        )
    configure_logging(settings.log_format)
    gate = agents.compute.credit_gate
    if isinstance(gate, Ledger):
        gate.group_settles()  # many runs end at once on a server: one commit per batch
    loop = LifecycleLoop(
        router=agents.compute,
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
        f"computerouter API on http://{bind_host}:{bind_port} (OpenAPI: /openapi.json)"
    )
    try:
        uvicorn.run(app, host=bind_host, port=bind_port, log_level="warning", access_log=False)
    finally:
        stop.set()
        helper.close()
        lifecycle.join(30)
        if isinstance(gate, Ledger):
            gate.close()


def _lifecycle(loop: LifecycleLoop, stop: threading.Event) -> None:
    """A pass every interval until ``stop``, whether or not anything is live (the server may
    make a session at any time)."""
    while not stop.is_set():
        loop.run_once()
        stop.wait(loop.interval_s)
