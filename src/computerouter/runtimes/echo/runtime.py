"""The ``echo`` test runtime: a stdlib-only HTTP server on the session's unix socket.

A test runtime, not an agent: its turns repeat their input (``echo: <input>``), streamed one
word per chunk, so tests and benchmarks can run agents through the whole router (sessions,
isolation, the API) without a model, and see the router's own cost.
"""

from __future__ import annotations

import os
import sys
from importlib import resources

import httpx

from computerouter.domain.values import FileSpec, LaunchSpec
from computerouter.errors import RuntimeFailure
from computerouter.runtimes.base import EventContext, TurnRequest
from computerouter.runtimes.echo.turn import EchoTurn

__all__ = ["EchoRuntime", "sandbox_python"]


def sandbox_python() -> str:
    """A Python interpreter usable by an unprivileged sandbox user.

    Shims (pyenv) and interpreters under a private home are not; the system interpreter is.
    """
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


class EchoRuntime:
    """Answers ``/health``, ``/v1/models`` and ``/v1/chat/completions`` by echoing input, and
    runs agent turns that way (a test runtime: see :mod:`.server` for its test hooks)."""

    name = "echo"

    def __init__(self, *, python: str | None = None, turn_timeout_s: float = 600.0) -> None:
        self._python = python or sandbox_python()
        self._server = resources.files("computerouter.runtimes.echo").joinpath("server.py")
        self._turn_timeout_s = turn_timeout_s

    def launch_spec(self, *, session_id: str) -> LaunchSpec:
        return LaunchSpec(
            runtime=self.name,
            argv=(self._python, "-I", "-S", "{runtime_dir}/server.py"),
            env=(("ECHO_SESSION_ID", session_id),),
            files=(FileSpec(name="server.py", content=self._server.read_bytes()),),
            health_path="/health",
            start_timeout_s=15.0,
        )

    def check(self, client: httpx.Client) -> None:
        try:
            response = client.get("/health")
        except httpx.HTTPError as exc:
            raise RuntimeFailure(f"echo runtime did not answer: {exc}") from exc
        if response.status_code != 200:
            raise RuntimeFailure(f"echo runtime health returned HTTP {response.status_code}")

    def headers(self, session_id: str) -> dict[str, str]:
        """None: the echo server asks no key (only the session's socket reaches it)."""
        return {}

    def start_turn(
        self, client: httpx.Client, request: TurnRequest, context: EventContext
    ) -> EchoTurn:
        return EchoTurn(client, request, context, turn_timeout_s=self._turn_timeout_s)
