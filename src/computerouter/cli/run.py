"""``computerouter run ADDRESS "input"``: one turn of an agent, its events rendered live.

Events are read on a worker thread and handed over through a queue, so Ctrl-C in the main
thread cancels the run inside the runtime and the command still shows how the run ended.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from computerouter.agents.model import ensure_standin
from computerouter.cli.agents import SandboxOpt, UserOpt, agent_router, user_option
from computerouter.cli.context import get_context
from computerouter.cli.daemon import lifecycle_on_demand
from computerouter.cli.remote import RemoteRun, RunHandle, client_for
from computerouter.cli.render import console, err_console
from computerouter.cli.terminal import for_terminal, markup_safe
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress
from computerouter.domain.events import (
    AgentEvent,
    ApprovalRequested,
    ApprovalResolved,
    MessageDelta,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    SessionReady,
    ToolCompleted,
    ToolStarted,
    Usage,
)
from computerouter.domain.limits import INPUT_MAX_BYTES, check_text
from computerouter.domain.regions import known_region
from computerouter.errors import InputError
from computerouter.inputs import read_bounded_text
from computerouter.runtimes.hermes import HermesImage

__all__ = ["Renderer", "prepare_runtime", "run", "stream_run"]

_END = object()


def _pump(agent_run: RunHandle, out: queue.Queue[object]) -> None:
    try:
        for event in agent_run.events():
            out.put(event)
    except Exception as exc:  # product errors and bugs alike surface in the main thread
        out.put(exc)
    finally:
        out.put(_END)


class Renderer:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.in_text = False

    def end(self) -> None:
        if self.in_text:
            console.print()
            self.in_text = False

    def show(self, event: AgentEvent) -> None:
        if self.as_json:
            print(json.dumps(event.to_dict()), flush=True)
            return
        if isinstance(event, MessageDelta):
            console.print(for_terminal(event.delta), end="", highlight=False, markup=False)
            self.in_text = True
            return
        self.end()
        if isinstance(event, SessionReady):
            console.print(
                f"[dim]session {event.session_id} on {event.provider}: {event.how} "
                f"in {event.took_ms:.1f} ms[/]"
            )
        elif isinstance(event, RunStarted):
            console.print(f"[dim]run {event.run_id} started ({event.runtime})[/]")
        elif isinstance(event, ToolStarted):
            console.print(
                f"[cyan]⚙ {markup_safe(event.tool)}[/] [dim]{markup_safe(event.preview)}[/]",
                highlight=False,
            )
        elif isinstance(event, ToolCompleted):
            mark = "[red]✗[/]" if event.error else "[green]✓[/]"
            console.print(
                f"{mark} [cyan]{markup_safe(event.tool)}[/] [dim]{event.duration_s:.2f} s[/]"
            )
        elif isinstance(event, ApprovalRequested):
            what = markup_safe(event.description or event.command)
            console.print(f"[yellow]approval requested[/]: {what}", highlight=False)
            console.print(
                "  " + for_terminal(event.command), style="bold", highlight=False, markup=False
            )
        elif isinstance(event, ApprovalResolved):
            console.print(f"[yellow]approval answered[/]: {markup_safe(event.choice)}")
        elif isinstance(event, Usage):
            console.print(
                f"[dim]usage: {event.input_tokens} in, {event.output_tokens} out "
                f"({markup_safe(event.model or 'model')})[/]"
            )
        elif isinstance(event, RunCompleted):
            console.print(f"[green]run completed[/] [dim]{event.run_id}[/]")
        elif isinstance(event, RunFailed):
            console.print(f"[red]run failed[/]: {markup_safe(event.error)}", highlight=False)
        elif isinstance(event, RunCancelled):
            console.print(f"[yellow]run cancelled[/] [dim]{markup_safe(event.reason)}[/]")


def _approval_answer(event: ApprovalRequested, approve: bool, deny: bool) -> str:
    if approve:
        return "once"
    if deny or not sys.stdin.isatty():
        return "deny"
    choices = [c for c in event.choices if c in ("once", "session", "always", "deny")] or ["deny"]
    return str(
        typer.prompt(f"allow? ({'/'.join(choices)})", default="deny", show_default=True)
    ).strip()


def read_input(text: str | None, input_file: Path | None) -> str:
    """The run's input: the argument or ``--input-file`` (a file, or ``-`` for stdin), one of
    them, bounded by :data:`~computerouter.domain.limits.INPUT_MAX_BYTES` either way."""
    if text is not None and input_file is not None:
        raise InputError("give the input as an argument or with --input-file, not both")
    if input_file is not None:
        what = "input from stdin" if str(input_file) == "-" else "input file"
        return read_bounded_text(input_file, what=what, limit=INPUT_MAX_BYTES)
    if text is None:
        raise InputError(
            "give the agent some input: an argument, or --input-file FILE (- is stdin)"
        )
    return check_text(text, what="the input", limit=INPUT_MAX_BYTES)


def run(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="SANDBOX/SLUG, or SLUG with --sandbox.")],
    text: Annotated[
        str | None, typer.Argument(help="What to tell the agent (or use --input-file).")
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input-file", help="Read the input from a UTF-8 file of at most 256 KiB; - is stdin."
        ),
    ] = None,
    sandbox: SandboxOpt = None,
    user: UserOpt = None,
    approve: Annotated[bool, typer.Option("--approve", help="Allow risky actions (once).")] = False,
    deny: Annotated[bool, typer.Option("--deny", help="Deny risky actions.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False,
    region: Annotated[
        str | None,
        typer.Option("--region", help="Your region, for placement [default: the region setting]."),
    ] = None,
) -> None:
    """Run one turn of an agent and stream its events."""
    if approve and deny:
        raise InputError("give --approve or --deny, not both")
    if region is not None:
        known_region(region)
    acting = user_option(ctx, user)
    where = AgentAddress.parse(address, default_sandbox=sandbox)
    given = read_input(text, input_file)
    client = client_for(ctx, user)
    if client is not None:  # on a server: its runtime, its placement
        started = client.runs.start(str(where), given)
        if not stream_run(
            RemoteRun(client, started.run_id), Renderer(as_json), approve=approve, deny=deny
        ):
            raise typer.Exit(1)
        return
    lifecycle_on_demand(ctx)
    settings = get_context(ctx).settings
    router = agent_router(ctx)
    agent_run = router.run(user_id=acting, address=where, text=given, region=region or "")
    prepare_runtime(settings, agent_run.agent.settings.backend, quiet=as_json)
    if not stream_run(agent_run, Renderer(as_json), approve=approve, deny=deny):
        raise typer.Exit(1)


def prepare_runtime(settings: Settings, backend: str, *, quiet: bool) -> None:
    """Build the runtime image (with a progress bar) and start the model stand-in if needed,
    so the run itself does not sit silent for a minute on a fresh machine. The echo test
    runtime needs neither."""
    if backend not in ("hermes", "concierge"):
        return
    image = HermesImage(images_dir=settings.images_path)
    if not image.ready:
        with Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=quiet,
        ) as progress:
            task = progress.add_task("building the Hermes runtime image", total=4)

            def report(what: str, step: int, of: int) -> None:
                progress.update(task, description=what, completed=step - 1, total=of)

            image.ensure(report)
        if not quiet:
            err_console.print(f"[dim]built the Hermes runtime image in {image.path}[/]")
    if settings.uses_standin_model and ensure_standin(settings) and not quiet:
        err_console.print(
            "[dim]started the bundled model stand-in (a test model, not a real one)[/]"
        )


def stream_run(agent_run: RunHandle, renderer: Renderer, *, approve: bool, deny: bool) -> bool:
    """Render a run's events as they come; Ctrl-C cancels it. True if it completed."""
    events: queue.Queue[object] = queue.Queue()
    worker = threading.Thread(target=_pump, args=(agent_run, events), daemon=True)
    worker.start()
    failed = False
    while True:
        try:
            item = events.get()
        except KeyboardInterrupt:
            err_console.print("\n[yellow]cancelling…[/]")
            agent_run.cancel()
            continue
        if item is _END:
            break
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, AgentEvent)
        renderer.show(item)
        if isinstance(item, ApprovalRequested):
            agent_run.respond_approval(_approval_answer(item, approve, deny))
        failed = failed or isinstance(item, RunFailed | RunCancelled)
    renderer.end()
    return not failed
