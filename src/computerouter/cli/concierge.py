"""``computerouter concierge "…"``: ask the Concierge, in plain language.

The Concierge is an agent like any other (a Hermes session of its own, billed like any run);
its tools are the operator's operations, acting as you. Embedded, this command serves the API
on 127.0.0.1 for as long as the run lasts, because those tools call it; against a server
(``--server``) the server's own Concierge answers.
"""

from __future__ import annotations

from typing import Annotated

import typer

from computerouter.cli.agents import UserOpt, user_option
from computerouter.cli.context import get_context
from computerouter.cli.daemon import lifecycle_on_demand
from computerouter.cli.remote import RemoteRun, client_for
from computerouter.cli.render import err_console
from computerouter.cli.run import Renderer, prepare_runtime, stream_run
from computerouter.domain.limits import INPUT_MAX_BYTES, check_text
from computerouter.errors import InputError

__all__ = ["concierge"]


def concierge(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="What to do, in plain language.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Go ahead with destructive steps without asking.")
    ] = False,
    user: UserOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False,
) -> None:
    """Ask the Concierge: "Create a Hermes agent that runs on the cheapest compute
    available", "Show me my active compute sessions", "Pause my Hermes agents on Daytona —
    keep Sprites running". It shows each tool it calls and asks before anything destructive
    unless --yes."""
    check_text(text, what="the request", limit=INPUT_MAX_BYTES)
    if not text.strip():
        raise InputError("the request is empty; tell the Concierge what to do")
    acting = user_option(ctx, user)
    client = client_for(ctx, user)
    if client is not None:
        started = client.concierge.ask(text, yes=yes)
        if not stream_run(
            RemoteRun(client, started.run_id), Renderer(as_json), approve=False, deny=True
        ):
            raise typer.Exit(1)
        return
    from computerouter.agents.factory import agent_router_for
    from computerouter.api import create_app
    from computerouter.concierge import Concierge
    from computerouter.loopback import LoopbackServer

    lifecycle_on_demand(ctx)
    settings = get_context(ctx).settings
    agents = agent_router_for(get_context(ctx).router)
    api: list[LoopbackServer] = []
    helper = Concierge(agents, api_url=lambda: api[0].url)
    api.append(
        LoopbackServer(create_app(agents=agents, settings=settings, concierge=helper), name="API")
    )
    try:
        api[0].start()
        agent_run = helper.ask(acting, text, yes=yes)
        prepare_runtime(settings, "concierge", quiet=as_json)
        if not as_json:
            err_console.print("[dim]the Concierge is an agent: this request is a billed run[/]")
        if not stream_run(agent_run, Renderer(as_json), approve=False, deny=True):
            raise typer.Exit(1)
    finally:
        helper.close()
        api[0].stop()
