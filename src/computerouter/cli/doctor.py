"""``computerouter doctor``: what this machine offers for isolation, cgroups and services."""

from __future__ import annotations

import tempfile

import httpx
import typer
from rich.table import Table

from computerouter.cli.context import get_context
from computerouter.cli.daemon import describe
from computerouter.cli.render import console
from computerouter.cli.terminal import markup_safe
from computerouter.compute.daemon import daemon_status
from computerouter.compute.lifecycle import needs_lifecycle
from computerouter.config import Settings
from computerouter.errors import ComputeRouterError
from computerouter.runtimes.hermes import HermesImage
from computerouter.secrets.factory import keyring_for
from computerouter.store import open_store
from computerouter.store.secrets import SecretStore

__all__ = ["doctor"]

_STATUS = {
    "ok": "[green]ok[/]",
    "warn": "[yellow]warn[/]",
    "missing": "[red]missing[/]",
    "error": "[red]error[/]",
}
_SQLITE_MAGIC = b"SQLite format 3\x00"


def _home_row(settings: Settings) -> tuple[str, str, str]:
    """The data directory exists and really takes a write (a read-only mount or a full disk
    fails here, even for root, whom permission bits do not stop)."""
    home = settings.home
    if not home.exists():
        return ("data directory", "warn", f"{home} does not exist yet: the first command makes it")
    if not home.is_dir():
        return ("data directory", "error", f"{home} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=home, prefix=".doctor-"):
            pass
    except OSError as exc:
        return ("data directory", "error", f"{home} is not writable: {exc.strerror or exc}")
    return ("data directory", "ok", f"{home} (writable)")


def _store_row(settings: Settings) -> tuple[str, str, str]:
    url = settings.effective_database_url
    backend = url.split(":", 1)[0]
    if not settings.database_url:
        path = settings.sqlite_path
        if path.is_file():
            try:
                with path.open("rb") as fh:
                    header = fh.read(len(_SQLITE_MAGIC))
            except OSError as exc:
                return ("store", "error", f"cannot read {path}: {exc.strerror or exc}")
            if header and header != _SQLITE_MAGIC:
                return ("store", "error", f"{path} is not a SQLite database; move it aside")
    try:
        store = open_store(url)
        store.close()
    except ComputeRouterError as exc:
        return ("store", "error", str(exc))
    return ("store", "ok", f"{backend} reachable and migrated")


def _model_row(settings: Settings) -> tuple[str, str, str]:
    url = settings.effective_model_base_url
    what = "bundled stand-in (a test model, not a real one)" if settings.uses_standin_model else url
    try:
        response = httpx.get(f"{url}/models", timeout=2.0, headers=_auth(settings))
    except httpx.HTTPError:
        if settings.uses_standin_model:
            return ("model", "ok", f"{what}: started on the first run")
        return ("model", "warn", f"{what}: not reachable from this host")
    status = "ok" if response.status_code == 200 else "warn"
    return ("model", status, f"{what}: GET /models answered {response.status_code}")


def _secrets_row(settings: Settings) -> tuple[str, str, str]:
    """Which key-encryption keys the stored secrets need, against those configured (no value
    is opened or shown)."""
    try:
        keyring = keyring_for(settings)
        store = open_store(settings.effective_database_url)
        try:
            usage = SecretStore(store.engine).kek_ids()
        finally:
            store.close()
    except ComputeRouterError as exc:
        return ("secrets", "error", str(exc))
    total = sum(usage.values())
    missing = sorted(set(usage) - keyring.key_ids())
    if missing:
        return (
            "secrets",
            "error",
            f"{usage[missing[0]]} secret(s) are wrapped by key-encryption key {missing[0]!r}, "
            "which is not configured",
        )
    if not keyring.key_ids():
        return ("secrets", "ok", "none stored; no key-encryption key yet (secrets new-kek)")
    current = keyring.current_key_id
    behind = total - usage.get(current, 0)
    if behind:
        return (
            "secrets",
            "warn",
            f"{total} stored; {behind} not yet under the current key {current!r}: run "
            "computerouter secrets rotate-kek",
        )
    return ("secrets", "ok", f"{total} stored, all under the current key {current!r}")


def _lifecycle_needed(settings: Settings) -> bool | None:
    try:
        store = open_store(settings.effective_database_url)
    except ComputeRouterError:
        return None
    try:
        return needs_lifecycle(store)
    except ComputeRouterError:
        return None
    finally:
        store.close()


def _daemon_row(settings: Settings, needed: bool | None) -> tuple[str, str, str]:
    status = daemon_status(settings.home)
    if status.running:
        return ("lifecycle daemon", "ok", describe(status))
    how = (
        "starts on demand"
        if settings.lifecycle_daemon
        else "lifecycle_daemon is off: `computerouter daemon start` or `compute reap` runs it"
    )
    if needed:
        return (
            "lifecycle daemon",
            "warn",
            f"not running while sessions are live, so idle ones do not suspend ({how})",
        )
    return ("lifecycle daemon", "ok", f"not running: no session needs it ({how})")


def _auth(settings: Settings) -> dict[str, str]:
    key = settings.model_api_key
    return {"Authorization": f"Bearer {key}"} if key else {}


def _provider_rows(settings: Settings) -> list[tuple[str, str, str]]:
    """Each registered provider's own rows: a configured one's checks, or what to set."""
    from computerouter.providers.registration import registered
    from computerouter.providers.settings import provider_settings

    rows: list[tuple[str, str, str]] = []
    for record in registered():
        own = provider_settings(record, settings)
        reason = record.configured(own)
        if reason:
            rows.append((f"provider {record.name}", "warn", f"not configured: {reason}"))
        elif record.doctor is None:
            rows.append((f"provider {record.name}", "ok", "configured"))
        else:
            rows.extend((r.check, r.status, r.detail) for r in record.doctor(settings, own))
    return rows


def doctor(ctx: typer.Context) -> None:
    """Check isolation (bubblewrap, namespaces, uids), cgroups, archive tools and the store."""
    settings = get_context(ctx).settings
    table = Table(title="computerouter doctor", title_justify="left")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail")
    rows: list[tuple[str, str, str]] = _provider_rows(settings)
    home = _home_row(settings)
    rows.append(home)
    needed: bool | None = None
    if settings.database_url or settings.home.exists():
        store_row = _store_row(settings)
        rows.append(store_row)
        if store_row[1] == "ok":
            needed = _lifecycle_needed(settings)
            rows.append(_secrets_row(settings))
    else:
        rows.append(("store", "warn", "not created yet: the first command creates it"))
    rows.append(_daemon_row(settings, needed))
    image = HermesImage(images_dir=settings.images_path)
    rows.append(
        ("hermes image", "ok", f"hermes-agent {image.version} at {image.path}")
        if image.ready
        else ("hermes image", "warn", f"not built yet: the first Hermes run builds {image.path}")
    )
    rows.append(_model_row(settings))
    for check, status, detail in rows:
        table.add_row(check, _STATUS.get(status, status), markup_safe(detail))
    console.print(table)
    if any(status in ("missing", "error") for _, status, _ in rows):
        raise typer.Exit(1)
