"""``computerouter secrets set|list|delete|rotate-kek|new-kek|retire-kek``: secrets at rest.

A value is read from stdin (or a hidden prompt on a terminal) or ``--from-file``, never from an
argument (arguments show in ``ps`` and shell history), and no command ever prints one.
"""

from __future__ import annotations

import secrets as random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from computerouter.cli.context import get_context
from computerouter.cli.render import console, print_json
from computerouter.config import Settings
from computerouter.domain.secrets import (
    SECRET_VALUE_MAX_BYTES,
    SecretRecord,
    check_secret_name,
    owner_for,
)
from computerouter.errors import ConfigError, Conflict, InputError, NotFound
from computerouter.inputs import STDIN, read_bounded_text
from computerouter.secrets.factory import keyring_for
from computerouter.secrets.keyring import KEK_ENV, new_kek, write_key_file
from computerouter.secrets.vault import SecretVault
from computerouter.store import open_store
from computerouter.store.secrets import SecretStore

__all__ = ["app"]

app = typer.Typer(
    help="Secrets at rest (model keys, tokens, provider credentials): set, list, delete, and "
    "rotate the key-encryption keys. Values are never printed.",
    no_args_is_help=True,
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
UserOption = Annotated[
    str | None, typer.Option("--user", help="A user's secret (default: the operator's).")
]


@contextmanager
def _vault(ctx: typer.Context) -> Iterator[SecretVault]:
    settings = get_context(ctx).settings
    keyring = keyring_for(settings)
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot create the data directory {str(settings.home)!r}: {exc}"
        ) from exc
    store = open_store(settings.effective_database_url)
    try:
        yield SecretVault(SecretStore(store.engine), keyring)
    finally:
        store.close()


def _read_value(from_file: Path | None) -> str:
    what = "the secret value"
    if from_file is None and sys.stdin.isatty():
        text = str(typer.prompt("value", hide_input=True, err=True))
    else:
        source: Path | str = STDIN if from_file is None else from_file
        text = read_bounded_text(source, what=what, limit=SECRET_VALUE_MAX_BYTES + 2)
    for ending in ("\r\n", "\n"):  # `echo value |` and editors add one line ending
        if text.endswith(ending):
            text = text[: -len(ending)]
            break
    if not text:
        raise InputError(f"{what} is empty: pipe it on stdin or use --from-file")
    return text


def _when(at: float | None) -> str:
    return "" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M")


def _dict(record: SecretRecord) -> dict[str, object]:
    return {
        "owner": record.owner,
        "name": record.name,
        "kek_id": record.kek_id,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "rotated_at": record.rotated_at,
    }


@app.command("set", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def set_secret(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The secret's name, e.g. model_api_key.")],
    user: UserOption = None,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="Read the value from this file.")
    ] = None,
) -> None:
    """Store a secret; the value comes from stdin (hidden prompt on a terminal) or a file."""
    if ctx.args:  # never echoed: it may be the value itself
        raise InputError(
            "secrets set takes no value argument (it would show in ps and shell history): "
            "pipe the value on stdin or use --from-file"
        )
    check_secret_name(name)
    owner = owner_for(user)
    value = _read_value(from_file)
    with _vault(ctx) as vault:
        record = vault.set(owner, name, value)
    console.print(f"set secret {record.name} for {record.owner} (key {record.kek_id})")


@app.command("list")
def list_secrets(ctx: typer.Context, user: UserOption = None, as_json: JsonFlag = False) -> None:
    """List secrets: names, owners, and the key-encryption key of each (never values)."""
    with _vault(ctx) as vault:
        records = vault.list(owner=None if user is None else owner_for(user))
    if as_json:
        print_json([_dict(r) for r in records])
        return
    if not records:
        console.print("[dim]no secrets[/]")
        return
    table = Table(title="secrets", title_justify="left")
    for column in ("owner", "name", "key", "created", "updated", "rotated"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r.owner, r.name, r.kek_id, _when(r.created_at), _when(r.updated_at), _when(r.rotated_at)
        )
    console.print(table)


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The secret's name.")],
    user: UserOption = None,
) -> None:
    """Delete a secret."""
    owner = owner_for(user)
    with _vault(ctx) as vault:
        vault.delete(owner, name)
    console.print(f"deleted secret {name} for {owner}")


@app.command("rotate-kek")
def rotate_kek(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Re-wrap every data key under the current (first) KEK; safe to run again."""
    with _vault(ctx) as vault:
        report = vault.rotate_kek()
    if as_json:
        print_json(
            {
                "key_id": report.key_id,
                "rewrapped": report.rewrapped,
                "already_current": report.already_current,
                "changed_meanwhile": report.changed_meanwhile,
            }
        )
        return
    console.print(
        f"re-wrapped {report.rewrapped} secret(s) under {report.key_id} "
        f"({report.already_current} already were)"
    )


def _key_file_settings(ctx: typer.Context) -> Settings:
    settings = get_context(ctx).settings
    if settings.secrets_kek.strip():
        raise InputError(
            f"the key-encryption keys come from {KEK_ENV} (setting secrets_kek); change them "
            "there, not in the key file"
        )
    return settings


@app.command("new-kek")
def add_kek(
    ctx: typer.Context,
    key_id: Annotated[
        str | None, typer.Option("--id", help="Id of the new key (default: kek-<date>-<hex>).")
    ] = None,
) -> None:
    """Make a new key-encryption key in the key file; it becomes the current one."""
    settings = _key_file_settings(ctx)
    keyring = keyring_for(settings)
    if key_id is None:
        key_id = f"kek-{datetime.now(UTC):%Y%m%d}-{random.token_hex(3)}"
    if key_id in keyring.key_ids():
        raise InputError(f"a key-encryption key {key_id!r} already exists")
    write_key_file(settings.secrets_kek_path, [new_kek(key_id), *keyring.entries()])
    console.print(f"added key-encryption key {key_id} (now current) to {settings.secrets_kek_path}")
    if keyring.entries():
        console.print("next: computerouter secrets rotate-kek, then secrets retire-kek OLD_ID")


@app.command("retire-kek")
def retire_kek(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="Id of the key to remove.")]
) -> None:
    """Remove a key-encryption key from the key file once no secret is wrapped by it."""
    settings = _key_file_settings(ctx)
    keyring = keyring_for(settings)
    if key_id not in keyring.key_ids():
        raise NotFound(f"no key-encryption key {key_id!r} in {settings.secrets_kek_path}")
    if key_id == keyring.current_key_id:
        raise Conflict(
            f"{key_id!r} is the current key-encryption key: make a new one first "
            "('computerouter secrets new-kek'), then rotate"
        )
    with _vault(ctx) as vault:
        in_use = vault.usage().get(key_id, 0)
    if in_use:
        raise Conflict(
            f"{in_use} secret(s) are still wrapped by key-encryption key {key_id!r}: "
            "run 'computerouter secrets rotate-kek' first"
        )
    kept = [(kid, key) for kid, key in keyring.entries() if kid != key_id]
    write_key_file(settings.secrets_kek_path, kept)
    console.print(f"retired key-encryption key {key_id}")
