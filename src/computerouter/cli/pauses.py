"""``computerouter compute pause|unpause|pauses``: the kill switch, by scope, audited; against a
server (``--server``) through its admin API, with an admin key."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.table import Table

from computerouter.cli.context import get_context
from computerouter.cli.remote import client_for
from computerouter.cli.render import console, print_json
from computerouter.cli.terminal import markup_safe
from computerouter.domain.gates import Pause, PauseMode, PauseScope, ScopeKind
from computerouter.errors import InputError
from computerouter.wire.models import PauseEventOut, PauseOut

__all__ = ["pause", "pauses", "unpause"]

GlobalOpt = Annotated[bool, typer.Option("--global", help="The whole platform.")]
UserOpt = Annotated[str | None, typer.Option("--user", help="One user.", show_default=False)]
ProviderOpt = Annotated[
    str | None, typer.Option("--provider", help="One provider.", show_default=False)
]
ReasonOpt = Annotated[
    str, typer.Option("--reason", help="Why (kept in the audit trail).", show_default=False)
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _scope(
    ctx: typer.Context, everything: bool, user: str | None, provider: str | None
) -> PauseScope:
    given = [s for s in (everything, user is not None, provider is not None) if s]
    if len(given) != 1:
        raise InputError("name exactly one scope: --global, --user U or --provider P")
    if everything:
        return PauseScope(kind=ScopeKind.GLOBAL)
    if user is not None:
        return PauseScope(kind=ScopeKind.USER, target=user)
    assert provider is not None
    scope = PauseScope(kind=ScopeKind.PROVIDER, target=provider)
    if not get_context(ctx).server:  # a server checks its own providers
        get_context(ctx).router.provider(provider)  # an unknown provider is bad input
    return scope


def _actor(ctx: typer.Context) -> str:
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    return f"{get_context(ctx).settings.user} ({login})"


def pause(
    ctx: typer.Context,
    reason: ReasonOpt,
    everything: GlobalOpt = False,
    user: UserOpt = None,
    provider: ProviderOpt = None,
    drain: Annotated[
        bool, typer.Option("--drain", help="Let runs in flight finish (the default).")
    ] = False,
    now: Annotated[bool, typer.Option("--now", help="Cancel runs in flight too.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Stop new runs in a scope at once (--drain: in-flight runs finish; --now: cancel them).
    Against a server, this needs an admin key."""
    if drain and now:
        raise InputError("--drain and --now contradict each other; give one")
    scope = _scope(ctx, everything, user, provider)
    mode = PauseMode.NOW if now else PauseMode.DRAIN
    client = client_for(ctx, None)
    if client is not None:
        done = client.admin.pause(scope.key, reason=reason, mode=mode.value)
    else:
        router = get_context(ctx).router
        paused = Pause(
            scope=scope, mode=mode, reason=reason, actor=_actor(ctx), at=router.clock.now()
        )
        done = PauseOut.from_pause(paused, router.gates.pause(paused))
    if as_json:
        print_json({"scope": done.scope, "mode": done.mode, "cancelled_runs": done.cancelled_runs})
        return
    tail = f"; asked {len(done.cancelled_runs)} run(s) in flight to cancel" if now else ""
    console.print(
        markup_safe(f"paused {scope} ({done.mode}): {done.reason}{tail}"), highlight=False
    )


def unpause(
    ctx: typer.Context,
    reason: ReasonOpt,
    everything: GlobalOpt = False,
    user: UserOpt = None,
    provider: ProviderOpt = None,
) -> None:
    """Lift the pause of a scope. Against a server, this needs an admin key."""
    scope = _scope(ctx, everything, user, provider)
    if not reason.strip():
        raise InputError("an unpause needs a reason (--reason TEXT): it goes in the audit trail")
    client = client_for(ctx, None)
    if client is not None:
        client.admin.unpause(scope.key, reason=reason)  # one not paused is bad input there too
    elif not get_context(ctx).router.gates.unpause(scope, reason=reason, actor=_actor(ctx)):
        raise InputError(f"{scope} is not paused")
    console.print(markup_safe(f"unpaused {scope}: {reason}"), highlight=False)


def _in_force(p: PauseOut) -> dict[str, object]:
    return {"at": p.at, "scope": p.scope, "mode": p.mode, "actor": p.actor, "reason": p.reason}


def _history_row(e: PauseEventOut) -> dict[str, object]:
    return {
        "at": e.at,
        "action": e.action,
        "scope": e.scope,
        "mode": e.mode,
        "actor": e.actor,
        "reason": e.reason,
    }


def pauses(
    ctx: typer.Context,
    history: Annotated[bool, typer.Option("--history", help="The audit trail instead.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The pauses in force (or, with --history, who paused and unpaused what, when, why).
    Against a server, this needs an admin key."""
    client = client_for(ctx, None)
    rows: list[dict[str, object]]
    if history:
        events = (
            client.admin.history()
            if client is not None
            else [PauseEventOut.from_event(e) for e in get_context(ctx).router.gates.store.events()]
        )
        rows = [_history_row(e) for e in events]
    else:
        in_force = (
            client.admin.pauses()
            if client is not None
            else [PauseOut.from_pause(p) for p in get_context(ctx).router.gates.pauses(fresh=True)]
        )
        rows = [_in_force(p) for p in in_force]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("[dim]nothing is paused[/]" if not history else "[dim]no pauses yet[/]")
        return
    table = Table(*rows[0].keys())
    for row in rows:
        table.add_row(*("" if v is None else markup_safe(str(v)) for v in row.values()))
    console.print(table)
