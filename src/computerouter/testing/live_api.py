"""A live API server (uvicorn on a free port, in a thread) with three keys: alice's, bob's and
an admin's. Over fake compute (:func:`live_api`: fakes stand in for the provider and the
runtime only; the store, ledger, HTTP server and clients are the real ones), or over real
compute (:func:`live_echo_api`: real isolated sessions of the ``local`` provider running the
echo test runtime). For tests of the API and of the interfaces built on it (the MCP server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import uvicorn

from computerouter.agents.router import AgentRouter
from computerouter.api import create_app
from computerouter.client import Client, RetryPolicy
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.ledger import MICRO, Ledger, default_prices
from computerouter.providers.base import Provider
from computerouter.providers.registry import build_providers
from computerouter.runtimes.base import Runtime
from computerouter.runtimes.echo import EchoRuntime
from computerouter.secrets.api_keys import ApiKeys
from computerouter.store import open_store
from computerouter.store.agents import AgentStore
from computerouter.store.api_keys import ApiKeyStore
from computerouter.testing.agent_fakes import FakeAgentRuntime
from computerouter.testing.fakes import FakeProvider

__all__ = ["Api", "LiveServer", "live_api", "live_echo_api"]

R = TypeVar("R", bound=Runtime)


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1 (a free port), stopped by :meth:`stop`."""

    def __init__(self, app: object) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@dataclass(kw_only=True)
class Api(Generic[R]):
    url: str
    agents: AgentRouter
    runtime: R
    ledger: Ledger
    keys: ApiKeys
    alice: str
    bob: str
    admin: str
    settings: Settings

    def client(self, key: str, **kwargs: object) -> Client:
        kwargs.setdefault("retries", RetryPolicy(attempts=1))
        return Client(self.url, key, **kwargs)  # type: ignore[arg-type]


@contextmanager
def live_api(tmp_path: Path, **overrides: object) -> Iterator[Api[FakeAgentRuntime]]:
    """A live server over fake compute in ``tmp_path``, with alice's, bob's and an admin's
    keys, stopped on exit; ``overrides`` are settings."""
    settings = _settings(tmp_path, overrides)
    runtime = FakeAgentRuntime()
    providers = {"local": FakeProvider("local")}
    with _serving(settings, providers, runtime, {"hermes": runtime, "echo": runtime}) as api:
        yield api


@contextmanager
def live_echo_api(tmp_path: Path, **overrides: object) -> Iterator[Api[EchoRuntime]]:
    """A live server over real compute in ``tmp_path``: the ``local`` provider (isolated
    sessions: it needs root, bubblewrap and cgroups) running the echo test runtime, for agents
    with ``backend="echo"``. Every session it made is destroyed on exit."""
    settings = _settings(tmp_path, {"default_runtime": "echo", **overrides})
    runtime = EchoRuntime(turn_timeout_s=settings.turn_timeout_s)
    with _serving(settings, build_providers(settings), runtime, {"echo": runtime}) as api:
        try:
            yield api
        finally:
            compute = api.agents.compute
            for session in compute.store.sessions.list():
                if session.state.value not in ("destroyed", "failed"):
                    compute.destroy(session.id)


def _settings(tmp_path: Path, overrides: Mapping[str, object]) -> Settings:
    defaults: dict[str, object] = {
        "default_provider": "local",
        "wait_timeout_s": 20.0,
        "api_rate_per_s": 0,
    }
    return Settings.load(env={}, home=tmp_path, **(defaults | dict(overrides)))


@contextmanager
def _serving(
    settings: Settings,
    providers: Mapping[str, Provider],
    runtime: R,
    runtimes: Mapping[str, Runtime],
) -> Iterator[Api[R]]:
    store = open_store(settings.effective_database_url)
    ledger = Ledger(store=store, prices=default_prices())
    compute = ComputeRouter(
        store=store,
        providers=providers,
        runtimes=dict(runtimes),
        settings=settings,
        credit_gate=ledger,
    )
    agents = AgentRouter(compute=compute, agents=AgentStore(store.engine))
    keys = ApiKeys(ApiKeyStore(store.engine), pepper="test-pepper")
    for user in ("alice", "bob"):
        ledger.grant(user, 100 * MICRO, note="api tests")
    _, alice = keys.create("alice", name="alice laptop")
    _, bob = keys.create("bob")
    _, admin = keys.create("ops", admin=True)
    server = LiveServer(create_app(agents=agents, settings=settings, keys=keys))
    url = server.start()
    try:
        yield Api(
            url=url,
            agents=agents,
            runtime=runtime,
            ledger=ledger,
            keys=keys,
            alice=alice,
            bob=bob,
            admin=admin,
            settings=settings,
        )
    finally:
        server.stop()
        store.close()
