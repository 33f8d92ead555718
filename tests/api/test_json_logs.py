"""The control plane's log lines: JSON with the ids of the request, run and session they are
about; an access line per request when asked; never a credential."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from served import CLI, serve

from computerouter.config import Settings
from computerouter.domain.events import RunCompleted, SessionReady
from computerouter.errors import ConfigError
from computerouter.log_format import configure_logging, log_ids
from computerouter.testing.live_api import live_api


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("json", handler=logging.StreamHandler(stream))
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_a_line_carries_the_bound_ids_and_extra_fields(captured: io.StringIO) -> None:
    log = logging.getLogger("computerouter.test")
    with log_ids(run_id="run_1", user_id="alice", session_id=None):
        with log_ids(session_id="ses_9"):
            log.info("inside %s", "both", extra={"ms": 1.5})
        log.warning("outer only")
    log.info("outside")
    lines = _lines(captured)
    assert [x["msg"] for x in lines] == ["inside both", "outer only", "outside"]
    assert lines[0] | {"ts": ""} == {
        "ts": "",
        "level": "info",
        "logger": "computerouter.test",
        "msg": "inside both",
        "run_id": "run_1",
        "user_id": "alice",
        "session_id": "ses_9",
        "ms": 1.5,
    }
    assert str(lines[0]["ts"]).endswith("Z")
    assert "session_id" not in lines[1]
    assert lines[1]["run_id"] == "run_1"
    assert "run_id" not in lines[2]


def test_an_exception_is_one_line_with_its_traceback(captured: io.StringIO) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("computerouter.test").exception("it broke")
    (line,) = _lines(captured)
    assert line["level"] == "error"
    assert "RuntimeError: boom" in str(line["exc"])


def test_a_bad_log_format_is_one_line() -> None:
    with pytest.raises(ConfigError, match="log_format must be text or json, not 'xml'"):
        Settings.load(env={"COMPUTEROUTER_LOG_FORMAT": "xml"}, home=Path("/nonexistent"))


def test_a_served_run_logs_its_request_run_and_session_ids(
    tmp_path: Path, captured: io.StringIO
) -> None:
    with live_api(tmp_path, api_access_log=True) as api:
        client = api.client(api.alice)
        client.agents.create("sb1", slug="support", prompt="Be kind.")
        events = list(client.runs.stream("sb1/support", "hello there"))
        assert isinstance(events[-1], RunCompleted)
        ready = next(e for e in events if isinstance(e, SessionReady))
        client.runs.get(events[-1].run_id)
        keys = (api.alice, api.bob, api.admin)
    lines = _lines(captured)
    access = [x for x in lines if x["logger"] == "computerouter.access"]
    assert {(x["method"], x["status"]) for x in access} >= {("POST", 201), ("GET", 200)}
    assert all(str(x["request_id"]).startswith("req_") for x in access)
    assert len({x["request_id"] for x in access}) == len(access)
    (finished,) = [x for x in lines if x["msg"] == f"run {ready.run_id} completed"]
    assert finished["outcome"] == "completed"
    assert (finished["run_id"], finished["session_id"]) == (ready.run_id, ready.session_id)
    assert (finished["user_id"], finished["sandbox_id"]) == ("alice", "sb1")
    text = captured.getvalue()
    assert not any(key in text for key in keys)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_writes_json_lines_with_request_ids(tmp_path: Path, workers: str) -> None:
    env = {
        **os.environ,
        "COMPUTEROUTER_HOME": str(tmp_path),
        "COMPUTEROUTER_MODEL_BASE_URL": "http://127.0.0.1:9/v1",
        "COMPUTEROUTER_LIFECYCLE_DAEMON": "false",
        "COMPUTEROUTER_LOG_FORMAT": "json",
        "COMPUTEROUTER_API_ACCESS_LOG": "true",
    }
    made = subprocess.run(
        [*CLI, "keys", "create", "--user", "alice", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    key = json.loads(made.stdout)["secret"]
    with serve(env, "--workers", workers) as served:  # each worker logs as one process does
        answer = httpx.get(f"{served.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200
    lines = [json.loads(x) for x in served.stderr[0].splitlines() if x.startswith("{")]
    (models,) = [x for x in lines if x.get("path") == "/v1/models"]
    assert models["request_id"] == answer.headers["x-request-id"]
    assert (models["logger"], models["status"], models["method"]) == (
        "computerouter.access",
        200,
        "GET",
    )
    assert key not in served.stderr[0]
