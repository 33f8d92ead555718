"""Which runtimes can run in sessions."""

from __future__ import annotations

from computerouter.runtimes.base import Runtime
from computerouter.runtimes.echo import EchoRuntime

__all__ = ["build_runtimes"]


def build_runtimes() -> dict[str, Runtime]:
    return {"echo": EchoRuntime()}
