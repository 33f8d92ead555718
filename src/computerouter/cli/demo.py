"""``computerouter demo``: the main job on the embedded default, end to end.

SQLite store, ``local`` provider, the real Hermes runtime, and the bundled model stand-in (a
scripted test model, not a real one; set ``COMPUTEROUTER_MODEL_BASE_URL`` for a real endpoint).
It creates an agent, runs two turns (the second remembers the first), then suspends the session
and runs a turn that thaws it, archives it and runs a turn that restores it, and shows what each
step cost. ``--provider daytona|fly_sprites`` runs the same flow on that provider, through its
emulator, started here (no account needed; see :mod:`.demo_emulated`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Annotated

import typer
from rich.table import Table

from computerouter.agents.factory import agent_router_for
from computerouter.agents.router import AgentRouter
from computerouter.cli.context import CliContext, get_context
from computerouter.cli.daemon import lifecycle_on_demand
from computerouter.cli.demo_emulated import EMULATED, SPEED, emulated
from computerouter.cli.render import console, detail_table
from computerouter.cli.run import Renderer, prepare_runtime, stream_run
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.events import AgentEvent, SessionReady
from computerouter.domain.states import LIVE_STATES
from computerouter.errors import InputError, NotFound
from computerouter.ledger import MICRO, Ledger, format_credits

__all__ = ["demo"]

PROMPT = "You are the support agent of the computerouter demo. Answer briefly."
TURNS = (
    ("first turn", "My name is Ada. Remember that the launch code is blue-42."),
    ("second turn: sees the first", "What do you remember?"),
)


class _Recorder(Renderer):
    """Renders like ``run`` and keeps how the session was made ready."""

    def __init__(self) -> None:
        super().__init__(as_json=False)
        self.ready: SessionReady | None = None

    def show(self, event: AgentEvent) -> None:
        if isinstance(event, SessionReady):
            self.ready = event
        super().show(event)


def _fund(ledger: Ledger, user: str) -> None:
    """Give the demo user credit to run on (the ledger refuses runs it cannot cover)."""
    if ledger.account(user).available < 10 * MICRO:
        ledger.grant(user, 100 * MICRO, note="computerouter demo")
        console.print(f"granted 100 credits to user {user} for the demo")


def _bills(ledger: Ledger, run_ids: list[str]) -> Table:
    table = Table(title="the ledger: two entries per run, joined on run_id", title_justify="left")
    for column in ("run", "token cost", "compute cost", "total"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for run_id in run_ids:
        bill = ledger.run_bill(run_id)
        token = "—" if bill.token is None else format_credits(bill.token.amount)
        compute = "—" if bill.compute is None else format_credits(bill.compute.amount)
        table.add_row(run_id, token, compute, format_credits(bill.total))
    return table


def _introduce(settings: Settings, provider: str) -> None:
    model = (
        "the bundled model stand-in [dim](a scripted test model, not a real one)[/]"
        if settings.uses_standin_model
        else settings.effective_model_base_url
    )
    console.print(
        f"[bold]computerouter demo[/] — store [cyan]{settings.effective_database_url}[/], "
        f"provider [cyan]{provider}[/], runtime [cyan]hermes[/], model {model}"
    )


def _summary(steps: list[tuple[str, float, str]]) -> Table:
    table = Table(title="what each step cost", title_justify="left")
    table.add_column("step")
    table.add_column("time", justify="right")
    table.add_column("session")
    for title, seconds, detail in steps:
        table.add_row(title, f"{seconds * 1000:.0f} ms", detail)
    return table


def _demo_agent(agents: AgentRouter, user: str, address: AgentAddress, provider: str) -> None:
    try:
        agents.resolve(user, address)
    except NotFound:
        agent = agents.create_agent(
            user_id=user,
            address=address,
            settings=ModelSettings(compute_provider=provider),
            prompt=PROMPT,
        )
        console.print(f"created agent [bold]{address}[/] ({agent.id}) for user {user}")


def demo(
    ctx: typer.Context,
    sandbox: Annotated[
        str | None, typer.Option(help="Sandbox for the demo agent [default: demo, demo-PROVIDER].")
    ] = None,
    keep: Annotated[bool, typer.Option(help="Keep the session instead of destroying it.")] = False,
    provider: Annotated[
        str,
        typer.Option(help="local, or daytona / fly_sprites through an emulator started here."),
    ] = "local",
) -> None:
    """Create a Hermes agent, run turns, suspend/resume and archive/restore its session."""
    if provider != "local" and provider not in EMULATED:
        raise InputError(
            f"unknown demo provider {provider!r} (local, or emulated: {', '.join(EMULATED)})"
        )
    if provider != "local" and keep:
        raise InputError("--keep needs a provider that outlives the demo; its emulator stops")
    cli = get_context(ctx)
    settings = cli.settings
    _introduce(settings, provider if provider == "local" else f"{provider} (emulated)")
    prepare_runtime(settings, "hermes", quiet=False)
    if provider == "local":
        lifecycle_on_demand(ctx)  # with --keep, or if a step fails, the session is left live
        _flow(cli, sandbox or "demo", keep=keep, provider=provider)
        return
    with emulated(provider, settings) as env:
        console.print(
            f"started the {provider} emulator (sandboxes are local sessions; vendor timings "
            f"sped up {SPEED:g}x)"
        )
        emulated_settings = replace(settings, environ={**settings.environ, **env})
        if "COMPUTEROUTER_GATEWAY_LISTEN" in env:  # where the emulator's sprites can reach it
            emulated_settings = replace(
                emulated_settings, gateway_listen=env["COMPUTEROUTER_GATEWAY_LISTEN"]
            )
        cli.use_settings(emulated_settings)
        try:
            _flow(cli, sandbox or f"demo-{provider}", keep=False, provider=provider)
        finally:
            for session in cli.router.store.sessions.list():
                if session.provider == provider and session.state in LIVE_STATES:
                    cli.router.destroy(session.id)  # its emulator is about to stop


def _flow(cli: CliContext, sandbox: str, *, keep: bool, provider: str) -> None:
    settings = cli.settings
    agents = agent_router_for(cli.router)
    compute = agents.compute
    address = AgentAddress(sandbox_id=sandbox, slug="support")
    user = settings.user
    _demo_agent(agents, user, address, provider)

    ledger = compute.credit_gate if isinstance(compute.credit_gate, Ledger) else None
    if ledger is not None:
        _fund(ledger, user)
    steps: list[tuple[str, float, str]] = []
    run_ids: list[str] = []

    def turn(title: str, text: str) -> str:
        console.rule(f"[bold]{title}[/]: {text}", align="left")
        recorder = _Recorder()
        started = time.perf_counter()
        agent_run = agents.run(user_id=user, address=address, text=text)
        run_ids.append(agent_run.run_id)
        ok = stream_run(agent_run, recorder, approve=False, deny=True)
        took = time.perf_counter() - started
        ready = recorder.ready
        how = "" if ready is None else f"session {ready.how} in {ready.took_ms:.1f} ms"
        steps.append((title, took, how if ok else f"{how}; run did not complete"))
        assert ready is not None
        return ready.session_id

    session_id = ""
    for title, text in TURNS:
        session_id = turn(title, text)

    started = time.perf_counter()
    compute.suspend(session_id)
    steps.append(("suspend the session", time.perf_counter() - started, "frozen in place"))
    turn("a turn on the suspended session", "USE_TOOL to show me a tool call")

    started = time.perf_counter()
    compute.archive(session_id)
    steps.append(("archive the session", time.perf_counter() - started, "workspace packed"))
    turn("a turn on the archived session", "What do you remember?")

    if not keep:
        started = time.perf_counter()
        compute.destroy(session_id)
        steps.append(("destroy the session", time.perf_counter() - started, "nothing left"))

    console.print(_summary(steps))
    if ledger is not None:
        console.print(_bills(ledger, run_ids))
    final = compute.get(session_id)
    console.print(detail_table(final, compute.store.sessions.history(final.id), time.time()))
