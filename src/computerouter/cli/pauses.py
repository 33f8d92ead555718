"""``computerouter compute pause|unpause|pauses``: the kill switch, by scope, audited."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.table import Table

from computerouter.cli.context import get_context
from computerouter.cli.render import console, print_json
from computerouter.domain.gates import Pause, PauseMode, PauseScope, ScopeKind
from computerouter.errors import InputError

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
    get_context(ctx).router.provider(provider)  # an unknown provider is bad input
    return PauseScope(kind=ScopeKind.PROVIDER, target=provider)


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
    """Stop new runs in a scope at once (--drain: in-flight runs finish; --now: cancel them)."""
    if drain and now:
        raise InputError("--drain and --now contradict each other; give one")
    scope = _scope(ctx, everything, user, provider)
    router = get_context(ctx).router
    paused = Pause(
        scope=scope,
        mode=PauseMode.NOW if now else PauseMode.DRAIN,
        reason=reason,
        actor=_actor(ctx),
        at=router.clock.now(),
    )
    cancelled = router.gates.pause(paused)
    if as_json:
        print_json({"scope": scope.key, "mode": paused.mode.value, "cancelled_runs": cancelled})
        return
    tail = f"; asked {len(cancelled)} run(s) in flight to cancel" if now else ""
    console.print(f"paused {scope} ({paused.mode.value}): {reason}{tail}")


def unpause(
    ctx: typer.Context,
    reason: ReasonOpt,
    everything: GlobalOpt = False,
    user: UserOpt = None,
    provider: ProviderOpt = None,
) -> None:
    """Lift the pause of a scope."""
    scope = _scope(ctx, everything, user, provider)
    if not reason.strip():
        raise InputError("an unpause needs a reason (--reason TEXT): it goes in the audit trail")
    if not get_context(ctx).router.gates.unpause(scope, reason=reason, actor=_actor(ctx)):
        raise InputError(f"{scope} is not paused")
    console.print(f"unpaused {scope}: {reason}")


def pauses(
    ctx: typer.Context,
    history: Annotated[bool, typer.Option("--history", help="The audit trail instead.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The pauses in force (or, with --history, who paused and unpaused what, when, why)."""
    gates = get_context(ctx).router.gates
    if history:
        events = gates.store.events()
        rows = [
            {
                "at": e.at,
                "action": e.action,
                "scope": e.scope.key,
                "mode": e.mode.value if e.mode else None,
                "actor": e.actor,
                "reason": e.reason,
            }
            for e in events
        ]
    else:
        rows = [
            {
                "at": p.at,
                "scope": p.scope.key,
                "mode": p.mode.value,
                "actor": p.actor,
                "reason": p.reason,
            }
            for p in gates.pauses(fresh=True)
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("[dim]nothing is paused[/]" if not history else "[dim]no pauses yet[/]")
        return
    table = Table(*rows[0].keys())
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)
