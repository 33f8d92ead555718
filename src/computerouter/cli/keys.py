"""``computerouter keys create|list|revoke|rotate``: API keys for the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from computerouter.cli.context import get_context
from computerouter.cli.render import console, err_console, print_json
from computerouter.domain.api_keys import ApiKeyRecord
from computerouter.secrets.api_keys import ApiKeys
from computerouter.store.api_keys import ApiKeyStore

__all__ = ["app"]

app = typer.Typer(help="API keys: create (shown once), list, revoke, rotate.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _keys(ctx: typer.Context) -> ApiKeys:
    context = get_context(ctx)
    return ApiKeys(ApiKeyStore(context.router.store.engine), pepper=context.settings.api_key_pepper)


def _dict(key: ApiKeyRecord) -> dict[str, object]:
    return {
        "id": key.id,
        "user_id": key.user_id,
        "name": key.name,
        "admin": key.admin,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


def _show_secret(key: ApiKeyRecord, secret: str, as_json: bool) -> None:
    if as_json:
        print_json({"key": _dict(key), "secret": secret})
        return
    kind = "admin key" if key.admin else "key"
    err_console.print(f"[green]created {kind}[/] {key.id} for user {key.user_id}; shown once:")
    print(secret)


@app.command("create")
def create(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="The user the key acts for.")],
    name: Annotated[str, typer.Option("--name", help="A label for the key.")] = "",
    admin: Annotated[bool, typer.Option("--admin", help="May act for any user.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a key; it is printed once and only its hash is kept."""
    key, secret = _keys(ctx).create(user, name=name, admin=admin)
    _show_secret(key, secret, as_json)


def _when(at: float | None) -> str:
    return "" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M")


@app.command("list")
def list_keys(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's keys.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List keys (never their secrets)."""
    keys = _keys(ctx).list(user_id=user)
    if as_json:
        print_json([_dict(k) for k in keys])
        return
    if not keys:
        console.print("[dim]no API keys[/]")
        return
    table = Table(title="API keys", title_justify="left")
    for column in ("id", "user", "name", "admin", "created", "revoked"):
        table.add_column(column)
    for k in keys:
        table.add_row(
            k.id,
            k.user_id,
            k.name,
            "yes" if k.admin else "",
            _when(k.created_at),
            _when(k.revoked_at),
        )
    console.print(table)


@app.command("revoke")
def revoke(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="Key id (key_...).")]
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    key = _keys(ctx).revoke(key_id)
    console.print(f"revoked {key.id} (user {key.user_id})")


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="Key id (key_...).")],
    as_json: JsonFlag = False,
) -> None:
    """Make a new key for the same user and revoke this one."""
    key, secret = _keys(ctx).rotate(key_id)
    _show_secret(key, secret, as_json)
