"""Each provider's own settings: its ``[providers.NAME]`` table, then its environment variables.

A field ``api_key`` of provider ``daytona`` is read from ``COMPUTEROUTER_DAYTONA_API_KEY``,
else from the vendor variables its metadata names (``DAYTONA_API_KEY``), else from
``[providers.daytona] api_key`` in ``config.toml``, else its default. Unknown keys in the table
are refused with one line, as for every other setting.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from computerouter.config import Settings, coerce_setting
from computerouter.errors import ConfigError
from computerouter.providers.registration import ProviderRegistration

__all__ = ["env_names", "provider_settings", "setting_rows"]


def env_names(provider: str, f: dataclasses.Field[Any]) -> tuple[str, ...]:
    """The variables a field is read from, first wins."""
    own = f"COMPUTEROUTER_{provider.upper()}_{f.name.upper()}"
    return (own, *f.metadata.get("env", ()))


def provider_settings(record: ProviderRegistration, settings: Settings) -> Any:
    """The provider's settings model, filled from the file, then the environment."""
    model = record.settings_model
    table = dict(settings.providers.get(record.name, {}))
    names = {f.name: f for f in dataclasses.fields(model)}
    unknown = sorted(set(table) - set(names))
    if unknown:
        raise ConfigError(
            f"unknown setting {unknown[0]!r} in [providers.{record.name}] "
            f"(known: {', '.join(names)})"
        )
    values: dict[str, Any] = {}
    for name, f in names.items():
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        key = f"{record.name}.{name}"
        if name in table:
            values[name] = coerce_setting(key, table[name], "config file", kind)
        for var in env_names(record.name, f):
            if var in settings.environ:
                values[name] = coerce_setting(key, settings.environ[var], var, kind)
                break
    try:
        return model(**values)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"settings of provider {record.name}: {exc}") from exc


def setting_rows(record: ProviderRegistration, values: Any) -> list[tuple[str, str, str]]:
    """(setting, value, variables) for display; secrets show only whether they are set."""
    rows = []
    for f in dataclasses.fields(record.settings_model):
        value = getattr(values, f.name)
        shown = ("set" if value else "not set") if f.metadata.get("secret") else str(value)
        rows.append((f"{record.name}.{f.name}", shown, " | ".join(env_names(record.name, f))))
    return rows
