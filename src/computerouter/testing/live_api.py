"""A live API server (uvicorn on a free port, in a thread) over fake compute, with three keys:
alice's, bob's and an admin's. Fakes stand in for the provider and the runtime only; the
store, ledger, HTTP server and clients are the real ones. For tests of the API and of the
interfaces built on it (the MCP server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from computerouter.agents.router import AgentRouter
from computerouter.api import create_app
from computerouter.client import Client, RetryPolicy
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.ledger import MICRO, Ledger, default_prices
from computerouter.secrets.api_keys import ApiKeys
from computerouter.store import open_store
from computerouter.store.agents import AgentStore
from computerouter.store.api_keys import ApiKeyStore
from computerouter.testing.agent_fakes import FakeAgentRuntime
from computerouter.testing.fakes import FakeProvider

__all__ = ["Api", "LiveServer", "live_api"]


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
class Api:
    url: str
    agents: AgentRouter
    runtime: FakeAgentRuntime
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
def live_api(tmp_path: Path, **overrides: object) -> Iterator[Api]:
    """A live server over fake compute in ``tmp_path``, with alice's, bob's and an admin's
    keys, stopped on exit; ``overrides`` are settings."""
    defaults: dict[str, object] = {
        "default_provider": "local",
        "wait_timeout_s": 20.0,
        "api_rate_per_s": 0,
    }
    settings = Settings.load(env={}, home=tmp_path, **(defaults | overrides))
    store = open_store(settings.effective_database_url)
    ledger = Ledger(store=store, prices=default_prices())
    runtime = FakeAgentRuntime()
    compute = ComputeRouter(
        store=store,
        providers={"local": FakeProvider("local")},
        runtimes={"hermes": runtime, "echo": runtime},
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
