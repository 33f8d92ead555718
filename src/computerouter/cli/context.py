"""Settings and the router, built once per command from the global options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from computerouter.client import Client
from computerouter.compute.factory import open_router
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.errors import InputError

__all__ = ["CliContext", "get_context"]


@dataclass(kw_only=True)
class CliContext:
    home: Path | None = None
    database_url: str | None = None
    server: str = ""
    """``--server``: the API server the commands act on (through the SDK), instead of the
    embedded store and providers."""
    api_key: str = field(default="", repr=False)
    _settings: Settings | None = field(default=None, repr=False)
    _router: ComputeRouter | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            overrides: dict[str, Any] = {}
            if self.home is not None:
                overrides["home"] = self.home
            if self.database_url is not None:
                overrides["database_url"] = self.database_url
            self._settings = Settings.load(**overrides)
        return self._settings

    def overrides_environment(self) -> dict[str, str]:
        """The global options that override settings (``--home``, ``--database-url``) as the
        ``COMPUTEROUTER_*`` variables that give a child process the same settings."""
        environment: dict[str, str] = {}
        if self.home is not None:
            environment["COMPUTEROUTER_HOME"] = str(self.home)
        if self.database_url is not None:
            environment["COMPUTEROUTER_DATABASE_URL"] = self.database_url
        return environment

    def use_settings(self, settings: Settings) -> None:
        """Act with ``settings`` from now on (a router opened before is closed)."""
        if self._router is not None:
            self._router.store.close()
            self._router = None
        self._settings = settings

    @property
    def opened_router(self) -> ComputeRouter | None:
        """The router if this command opened one, else ``None`` (opens nothing)."""
        return self._router

    def client(self, act_for: str | None = None) -> Client | None:
        """The SDK client of ``--server`` (acting for ``act_for``, with an admin key), or None
        when the command runs embedded."""
        if not self.server:
            return None
        if not self.api_key:
            raise InputError("--server needs an API key: --api-key or COMPUTEROUTER_API_KEY")
        return Client(self.server, self.api_key, act_for=act_for)

    @property
    def router(self) -> ComputeRouter:
        if self.server:
            raise InputError(
                f"this command works on this machine's own store and providers; it is not "
                f"available with --server {self.server}"
            )
        if self._router is None:
            self._router = open_router(self.settings)
        return self._router


def get_context(ctx: typer.Context) -> CliContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliContext)
    return obj
