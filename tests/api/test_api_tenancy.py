"""Acceptance (tenancy): another user's agents, runs, sessions and usage are a 404 for a key,
never a 403; an admin key reaches them; a revoked key reaches nothing."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from computerouter.domain.events import RunCompleted, SessionReady
from computerouter.testing.live_api import Api


@dataclass(frozen=True)
class AliceWorld:
    run_id: str
    session_id: str


def alice_world(api: Api) -> AliceWorld:
    client = api.client(api.alice)
    client.agents.create("sb1", slug="support", prompt="Be kind.")
    events = list(client.runs.stream("sb1/support", "hello"))
    assert isinstance(events[0], SessionReady)
    assert isinstance(events[-1], RunCompleted)
    return AliceWorld(run_id=events[-1].run_id, session_id=events[0].session_id)


def alice_resources(w: AliceWorld) -> list[tuple[str, str, dict[str, object] | None]]:
    """Every endpoint that names one of alice's resources: (method, path, body)."""
    return [
        ("GET", "/v1/sandboxes/sb1/agents/support", None),
        ("PATCH", "/v1/sandboxes/sb1/agents/support", {"prompt": "hijacked"}),
        ("DELETE", "/v1/sandboxes/sb1/agents/support", None),
        ("POST", "/v1/runs", {"agent": "sb1/support", "input": "hi"}),
        ("GET", f"/v1/runs/{w.run_id}", None),
        ("GET", f"/v1/runs/{w.run_id}/events", None),
        ("GET", f"/v1/runs/{w.run_id}/summary", None),
        ("POST", f"/v1/runs/{w.run_id}/cancel", None),
        ("POST", f"/v1/runs/{w.run_id}/approval", {"choice": "once"}),
        ("GET", f"/v1/usage/runs/{w.run_id}", None),
        ("GET", f"/v1/compute/sessions/{w.session_id}", None),
        ("POST", f"/v1/compute/sessions/{w.session_id}/suspend", None),
        ("POST", f"/v1/compute/sessions/{w.session_id}/resume", None),
        ("POST", f"/v1/compute/sessions/{w.session_id}/archive", None),
        ("POST", f"/v1/compute/sessions/{w.session_id}/recover", None),
        ("GET", f"/v1/compute/sessions/{w.session_id}/logs", None),
        ("DELETE", f"/v1/compute/sessions/{w.session_id}", None),
        ("GET", "/v1/compute/sessions?sandbox_id=sb1&agent_slug=support", None),
        (
            "POST",
            "/v1/chat/completions",
            {"model": "sb1/support", "messages": [{"role": "user", "content": "hi"}]},
        ),
    ]


def call(
    api: Api, key: str, method: str, path: str, body: object, **headers: str
) -> httpx.Response:
    return httpx.request(
        method,
        api.url + path,
        json=body,
        headers={"Authorization": f"Bearer {key}", **headers},
        timeout=30,
    )


def test_bobs_key_on_alices_resources_is_404_everywhere_and_changes_nothing(api: Api) -> None:
    w = alice_world(api)
    for method, path, body in alice_resources(w):
        response = call(api, api.bob, method, path, body)
        assert response.status_code == 404, (method, path, response.text)
        error = response.json()["error"]
        assert error["code"].endswith("not_found"), (method, path, error)
        assert "alice" not in error["message"]
    client = api.client(api.alice)
    assert client.agents.get("sb1", "support").prompt == "Be kind."
    assert client.compute.sessions.get(w.session_id).state == "running"
    assert client.runs.get(w.run_id).state == "completed"


def test_bob_sees_only_his_own_lists(api: Api) -> None:
    alice_world(api)
    bob = api.client(api.bob)
    assert bob.agents.list() == []
    assert bob.compute.sessions.list() == []
    assert bob.compute.sessions.list(include_ended=True) == []
    assert bob.usage.get().lines == []
    assert bob.runs.list() == []
    assert call(api, api.bob, "GET", "/v1/models", None).json()["data"] == []


def test_a_user_key_cannot_act_for_another_user(api: Api) -> None:
    alice_world(api)
    response = call(api, api.bob, "GET", "/v1/agents", None, **{"X-Computerouter-User": "alice"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    grant = call(api, api.bob, "POST", "/v1/credits/grants", {"user_id": "bob", "amount_micro": 5})
    assert grant.status_code == 403
    for path in ("/v1/admin/pauses/history", "/v1/admin/credits/audit"):
        refused = call(api, api.bob, "GET", path, None)
        assert refused.status_code == 403, path
        assert refused.json()["error"]["code"] == "forbidden"


def test_an_admin_key_reaches_every_one_of_alices_resources(api: Api) -> None:
    w = alice_world(api)
    as_alice = {"X-Computerouter-User": "alice"}
    for method, path, body in alice_resources(w):
        if path.endswith("/recover"):  # found, and refused: the session is running
            assert call(api, api.admin, method, path, body, **as_alice).status_code == 409
            continue
        if method == "DELETE" or path.endswith(("/approval", "/archive")):
            continue  # destructive ones are checked below, once
        response = call(api, api.admin, method, path, body, **as_alice)
        assert response.status_code < 400, (method, path, response.text)
    admin = api.client(api.admin, act_for="alice")
    assert [a.address for a in admin.agents.list()] == ["sb1/support"]
    assert admin.usage.get().lines
    assert w.run_id in [r.run_id for r in admin.runs.list()]
    assert {r.user_id for r in admin.runs.list()} == {"alice"}
    assert admin.compute.sessions.archive(w.session_id).state == "archived"
    admin.agents.delete("sb1", "support")
    assert api.client(api.alice).agents.list() == []


def test_a_revoked_key_reaches_nothing(api: Api) -> None:
    w = alice_world(api)
    [key] = api.keys.list(user_id="alice")
    api.keys.revoke(key.id)
    for method, path, body in [*alice_resources(w), ("GET", "/v1/agents", None)]:
        response = call(api, api.alice, method, path, body)
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "unauthorized"
    assert api.agents.agents.list("alice")[0].prompt == "Be kind."


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer nonsense", "Bearer cr_key_00000000000000000000000000_x", "Basic x"],
)
def test_missing_or_unknown_keys_are_401(api: Api, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = httpx.get(f"{api.url}/v1/agents", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["x-request-id"] == response.json()["error"]["request_id"]


def test_rotation_revokes_the_old_key_and_the_new_one_works(api: Api) -> None:
    [key] = api.keys.list(user_id="alice")
    new, secret = api.keys.rotate(key.id)
    assert new.user_id == "alice"
    assert call(api, api.alice, "GET", "/v1/agents", None).status_code == 401
    assert call(api, secret, "GET", "/v1/agents", None).status_code == 200
