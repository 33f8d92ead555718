"""The MCP agent tools carry an agent's run ceiling: stored and read back, and a ceiling of 0
or a negative one refused in one line with nothing created."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client as McpClient
from mcp.client.stdio import StdioServerParameters

from computerouter.testing.live_api import Api, live_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with live_api(tmp_path) as world:
        yield world


def test_agent_tools_carry_the_run_ceiling(api: Api) -> None:
    env = {**os.environ, "COMPUTEROUTER_URL": api.url, "COMPUTEROUTER_API_KEY": api.alice}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "computerouter", "mcp"], env=env
    )

    async def scenario() -> None:
        async with McpClient(params) as alice:
            made = await alice.call_tool(
                "agents_create",
                {"sandbox_id": "sb1", "slug": "bounded", "prompt": "Be quick.", "max_run_s": 90},
            )
            assert not made.is_error, made.content
            body = json.loads(made.content[0].text)  # type: ignore[union-attr]
            assert body["model_settings"]["max_run_s"] == 90.0
            updated = await alice.call_tool(
                "agents_update", {"sandbox_id": "sb1", "slug": "bounded", "max_run_s": 30}
            )
            assert not updated.is_error, updated.content
            body = json.loads(updated.content[0].text)  # type: ignore[union-attr]
            assert body["model_settings"]["max_run_s"] == 30.0
            for value in (0, -5):
                bad = await alice.call_tool(
                    "agents_create",
                    {"sandbox_id": "sb1", "slug": "other", "prompt": "x", "max_run_s": value},
                )
                assert bad.is_error
                assert "run ceiling" in bad.content[0].text  # type: ignore[union-attr]
        assert [a.slug for a in api.client(api.alice).agents.list()] == ["bounded"]

    anyio.run(scenario)
