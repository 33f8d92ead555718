"""Acceptance (MCP server): the official ``mcp`` client drives ``computerouter mcp`` over stdio
(a subprocess acting as one key) and over streamable HTTP (each request its own key), in front
of a live API server: every tool works, tenant scoping holds, destructive tools say so."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client as McpClient
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from computerouter.mcp_server import http_server
from computerouter.testing.environment import child_env
from computerouter.testing.live_api import Api, LiveServer, live_api

TOOLS = {
    "agents_create", "agents_list", "agents_show", "agents_update", "agents_delete",
    "sessions_list", "sessions_show", "sessions_suspend", "sessions_resume",
    "sessions_archive", "sessions_destroy", "pauses_list", "pause", "unpause",
    "usage", "usage_run", "credits", "providers_list", "route_explain",
}  # fmt: skip
DESTRUCTIVE = {"agents_delete", "sessions_destroy", "pause"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with live_api(tmp_path) as world:
        yield world


@pytest.fixture
def mcp_url(api: Api) -> Iterator[str]:
    server = LiveServer(http_server(api.url).streamable_http_app())
    url = server.start()
    yield f"{url}/mcp"
    server.stop()


def stdio(api: Api, key: str) -> McpClient:
    env = {**os.environ, "COMPUTEROUTER_URL": api.url, "COMPUTEROUTER_API_KEY": key}
    return McpClient(
        StdioServerParameters(command=sys.executable, args=["-m", "computerouter", "mcp"], env=env)
    )


@asynccontextmanager
async def over_http(url: str, key: str) -> AsyncIterator[McpClient]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
        McpClient(streamable_http_client(url, http_client=http)) as client,  # type: ignore[arg-type]
    ):
        yield client


async def call(client: McpClient, name: str, **arguments: Any) -> Any:
    """The tool's answer; a list comes back as its items."""
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    assert len(result.content) == 1
    answer = json.loads(result.content[0].text)  # type: ignore[union-attr]
    return answer["items"] if set(answer) == {"items"} else answer


async def refused(client: McpClient, name: str, **arguments: Any) -> str:
    result = await client.call_tool(name, arguments)
    assert result.is_error
    return str(result.content[0].text)  # type: ignore[union-attr]


def test_every_tool_over_stdio_acting_as_one_key(api: Api) -> None:
    async def scenario() -> None:
        async with stdio(api, api.alice) as alice:
            tools = {t.name: t for t in (await alice.list_tools()).tools}
            assert set(tools) == TOOLS
            for name, tool in tools.items():
                assert tool.annotations is not None
                assert bool(tool.annotations.destructive_hint) == (name in DESTRUCTIVE), name
            assert tools["agents_list"].annotations.read_only_hint  # type: ignore[union-attr]

            made = await call(
                alice, "agents_create", sandbox_id="sb1", slug="cheap", prompt="You are cheap.",
                compute_policy="cost-aware",
            )  # fmt: skip
            assert made["model_settings"]["compute_policy"] == "cost-aware"
            assert [a["slug"] for a in await call(alice, "agents_list")] == ["cheap"]
            shown = await call(alice, "agents_show", sandbox_id="sb1", slug="cheap")
            assert shown["prompt"] == "You are cheap."
            route = await call(alice, "route_explain", sandbox_id="sb1", slug="cheap")
            assert route["policy"] == "cost-aware"
            assert route["candidates"] == ["local"]
            pinned = await call(
                alice, "agents_update", sandbox_id="sb1", slug="cheap", compute_provider="local"
            )
            assert pinned["model_settings"]["compute_provider"] == "local"

            run = api.client(api.alice).runs.start("sb1/cheap", "hello")
            for _ in api.client(api.alice).runs.events(run.run_id):
                pass
            sessions = await call(alice, "sessions_list", sandbox_id="sb1", agent_slug="cheap")
            assert [s["state"] for s in sessions] == ["running"]
            sid = sessions[0]["id"]
            assert (await call(alice, "sessions_show", session_id=sid))["id"] == sid
            assert (await call(alice, "sessions_suspend", session_id=sid))["state"] == "suspended"
            assert (await call(alice, "sessions_resume", session_id=sid))["state"] == "running"
            assert (await call(alice, "sessions_archive", session_id=sid))["state"] == "archived"
            bill = await call(alice, "usage_run", run_id=run.run_id)
            assert bill["run_id"] == run.run_id
            assert (await call(alice, "usage"))["lines"]
            assert (await call(alice, "credits"))["balance_micro"] > 0
            assert [p["name"] for p in await call(alice, "providers_list")] == ["local"]
            destroyed = await call(alice, "sessions_destroy", session_id=sid)
            assert destroyed["state"] == "destroyed"
            assert await call(alice, "agents_delete", sandbox_id="sb1", slug="cheap") == {
                "ok": True
            }
            # An admin operation with a user's key is refused as the REST API refuses it.
            assert "forbidden" in await refused(
                alice, "pause", scope="global", reason="not mine to pull"
            )

    anyio.run(scenario)


def test_over_http_each_request_acts_as_its_own_key(api: Api, mcp_url: str) -> None:
    async def scenario() -> None:
        async with over_http(mcp_url, api.alice) as alice:
            await call(alice, "agents_create", sandbox_id="sb1", slug="mine", prompt="p")
        async with over_http(mcp_url, api.bob) as bob:
            assert await call(bob, "agents_list") == []
            assert "not_found" in await refused(bob, "agents_show", sandbox_id="sb1", slug="mine")
            assert "not_found" in await refused(bob, "agents_delete", sandbox_id="sb1", slug="mine")
        async with over_http(mcp_url, api.admin) as admin:
            made = await call(admin, "pause", scope="user:alice", reason="audit", mode="drain")
            assert made["scope"] == "user:alice"
            assert [p["scope"] for p in await call(admin, "pauses_list")] == ["user:alice"]
            assert await call(admin, "unpause", scope="user:alice", reason="done") == []
        async with over_http(mcp_url, "cr_key_not_a_key") as stranger:
            assert "unauthorized" in await refused(stranger, "agents_list")
        async with over_http(mcp_url, api.alice) as alice:
            assert [a["slug"] for a in await call(alice, "agents_list")] == ["mine"]

    anyio.run(scenario)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--server", "nope"], {}, "error: --server must be the API server's URL"),
        (["--server", "http://127.0.0.1:9"], {}, "error: stdio needs an API key"),
        (["--server", "http://127.0.0.1:9", "--http", "--port", "70000"], {}, "not a valid"),
    ],
)
def test_bad_input_is_one_line(args: list[str], env: dict[str, str], message: str) -> None:
    import subprocess

    clean = child_env()
    done = subprocess.run(
        [sys.executable, "-m", "computerouter", "mcp", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert message in done.stderr
