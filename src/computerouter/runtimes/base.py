"""The runtime seam: what runs inside a compute session.

A runtime says how to start itself in a fresh session (:class:`LaunchSpec`, carried out by any
provider) and how to tell that it is healthy. ``hermes`` is the production runtime; ``echo`` is
a tiny OpenAI-compatible stand-in used by tests and the lifecycle demo.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import httpx

from computerouter.domain.values import LaunchSpec

__all__ = ["Runtime"]


@runtime_checkable
class Runtime(Protocol):
    @property
    def name(self) -> str: ...

    def launch_spec(self, *, session_id: str) -> LaunchSpec: ...

    def check(self, client: httpx.Client) -> None:
        """Raise :class:`~computerouter.errors.RuntimeFailure` unless the runtime answers."""
        ...
