"""``computerouter demo``: the main job on the embedded default, end to end.

SQLite store, ``local`` provider, and the ``echo`` test runtime (a stand-in that repeats what
it is told; not an agent). It creates a session, talks to it over its unix socket, suspends and
resumes it, archives and restores it, and shows what each step cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from computerouter.cli.context import get_context
from computerouter.cli.render import console, detail_table
from computerouter.compute.router import ComputeRouter
from computerouter.domain.session import SessionRecord
from computerouter.domain.values import SessionKey
from computerouter.errors import RuntimeFailure
from computerouter.runtimes.transport import client_for

__all__ = ["demo"]

T = TypeVar("T")


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def _chat(record: SessionRecord, text: str) -> str:
    assert record.endpoint is not None
    with client_for(record.endpoint, timeout_s=10) as client:
        response = client.post(
            "/v1/chat/completions",
            json={"model": "echo", "messages": [{"role": "user", "content": text}]},
        )
    if response.status_code != 200:
        raise RuntimeFailure(f"runtime answered HTTP {response.status_code}")
    return str(response.json()["choices"][0]["message"]["content"])


def _put(record: SessionRecord, name: str, data: bytes) -> str:
    assert record.endpoint is not None
    with client_for(record.endpoint, timeout_s=10) as client:
        client.put(f"/v1/workspace/{name}", content=data).raise_for_status()
    return f"{name} ({len(data)} bytes)"


def _get(record: SessionRecord, name: str) -> bytes:
    assert record.endpoint is not None
    with client_for(record.endpoint, timeout_s=10) as client:
        response = client.get(f"/v1/workspace/{name}")
    return response.content if response.status_code == 200 else b""


def demo(
    ctx: typer.Context,
    user: Annotated[str, typer.Option(help="User id for the demo session.")] = "demo-user",
    sandbox: Annotated[str, typer.Option(help="Sandbox id for the demo session.")] = "demo",
    keep: Annotated[bool, typer.Option(help="Keep the session instead of destroying it.")] = False,
) -> None:
    """Run the lifecycle end to end on this machine and show what each step cost."""
    cli = get_context(ctx)
    settings = cli.settings
    console.print(
        f"[bold]computerouter demo[/] — store [cyan]{settings.effective_database_url}[/], "
        "provider [cyan]local[/], runtime [cyan]echo[/] "
        "[dim](a test stand-in that echoes; not an agent)[/]"
    )
    router: ComputeRouter = cli.router
    key = SessionKey(user_id=user, sandbox_id=sandbox)
    state: dict[str, SessionRecord] = {}

    def create() -> str:
        state["s"] = router.ensure_session(key, runtime="echo")
        return f"{state['s'].id} on {state['s'].provider}"

    def sid() -> str:
        return state["s"].id

    steps: list[tuple[str, Callable[[], str]]] = [
        ("create session", create),
        ("first response", lambda: _chat(state["s"], "hello from the router")),
        ("write workspace file", lambda: _put(state["s"], "notes.txt", b"kept across archive")),
        ("suspend", lambda: router.suspend(sid()).state.value),
        ("resume (thaw → response)", lambda: _chat(router.ensure_session(key), "are you back?")),
        ("archive", lambda: router.archive(sid()).state.value),
        (
            "restore (unpack → response)",
            lambda: "notes.txt = " + repr(_get(router.ensure_session(key), "notes.txt").decode()),
        ),
    ]
    if not keep:
        steps.append(("destroy", lambda: router.destroy(sid()).state.value))
    timings: list[tuple[str, float, str]] = []
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=len(steps))
        for name, action in steps:
            progress.update(task, description=name)
            detail, took = _timed(action)
            timings.append((name, took, detail))
            progress.advance(task)
    final = router.get(sid())

    table = Table(title="lifecycle on the local provider", title_justify="left")
    table.add_column("step")
    table.add_column("time", justify="right")
    table.add_column("result")
    for name, seconds, detail in timings:
        table.add_row(name, f"{seconds * 1000:.1f} ms", detail)
    console.print(table)
    console.print(detail_table(final, router.store.sessions.history(final.id), router.clock.now()))
