"""CORS (``api_cors_origins``): a browser page on an allowed origin may call the API with the
headers it uses and read the request and run ids; any other origin is not allowed in, and with
the setting empty no response carries any CORS header."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from computerouter.config import Settings
from computerouter.errors import ConfigError
from computerouter.testing.live_api import live_api

APP = "https://app.example"
ASKED = "authorization, content-type, last-event-id, x-computerouter-user, x-request-id"


def _preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(
        f"{url}/v1/runs",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": ASKED,
        },
    )


def _cors(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def test_an_allowed_origin_is_let_in_and_another_is_not(tmp_path: Path) -> None:
    with live_api(tmp_path, api_cors_origins=f"{APP}, http://localhost:5173") as api:
        allowed = _preflight(api.url, APP)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == APP
        granted = {
            h.strip().lower() for h in allowed.headers["access-control-allow-headers"].split(",")
        }
        assert {h.strip() for h in ASKED.split(",")} <= granted
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert "access-control-allow-credentials" not in allowed.headers  # keys, not cookies

        auth = {"Authorization": f"Bearer {api.alice}", "Origin": APP}
        answer = httpx.get(f"{api.url}/v1/models", headers=auth)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == APP
        exposed = {
            h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")
        }
        assert {"x-request-id", "x-computerouter-run-id"} <= exposed
        assert answer.headers["x-request-id"].startswith("req_")

        # Only Access-Control-Allow-Origin grants access (Starlette still lists what it would
        # allow, as every CORS library does): without it the browser refuses the call.
        other = _preflight(api.url, "https://evil.example")
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        plain = httpx.get(
            f"{api.url}/v1/models", headers={**auth, "Origin": "https://evil.example"}
        )
        assert plain.status_code == 200
        assert "access-control-allow-origin" not in plain.headers


def test_any_origin_with_a_star(tmp_path: Path) -> None:
    with live_api(tmp_path, api_cors_origins="*") as api:
        allowed = _preflight(api.url, "https://anywhere.example")
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "*"


def test_no_cors_headers_at_all_when_the_setting_is_empty(tmp_path: Path) -> None:
    with live_api(tmp_path) as api:
        assert api.settings.api_cors_origins == ""
        assert _cors(_preflight(api.url, APP)) == {}
        answer = httpx.get(
            f"{api.url}/v1/models", headers={"Authorization": f"Bearer {api.alice}", "Origin": APP}
        )
        assert answer.status_code == 200
        assert _cors(answer) == {}


@pytest.mark.parametrize(
    "value",
    [
        "app.example",
        "https://app.example/",
        "https://app.example/ui",
        "https://app.example?x=1",
        "https://user@app.example",
        "https://app.example:99999",
        "https://",
        "https://app.example, *.example",
    ],
)
def test_a_bad_origin_is_one_line_at_load(value: str) -> None:
    with pytest.raises(ConfigError, match="setting api_cors_origins") as caught:
        Settings.load(env={"COMPUTEROUTER_API_CORS_ORIGINS": value}, home=Path("/nonexistent"))
    assert "\n" not in str(caught.value)


def test_origins_are_read_as_a_list() -> None:
    settings = Settings.load(
        env={"COMPUTEROUTER_API_CORS_ORIGINS": " HTTPS://App.Example , http://[::1]:8080,"},
        home=Path("/nonexistent"),
    )
    assert settings.cors_origins == ("https://app.example", "http://[::1]:8080")
