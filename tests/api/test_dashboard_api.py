"""The endpoints the dashboard reads, against a live server: who a key is, the latest runs,
spend over time, the kill switches' audit trail, providers' circuits and prices; and ``/ui``
serves the dashboard's assets to anyone (the data behind it needs a key)."""

from __future__ import annotations

import httpx
import pytest

from computerouter.domain.events import RunCompleted
from computerouter.errors import Forbidden, InputError
from computerouter.testing.live_api import Api


def get(api: Api, key: str, path: str, **headers: str) -> httpx.Response:
    return httpx.get(
        api.url + path, headers={"Authorization": f"Bearer {key}", **headers}, timeout=30
    )


def finish(api: Api, key: str, agent: str, text: str = "hello") -> str:
    events = list(api.client(key).runs.stream(agent, text))
    assert isinstance(events[-1], RunCompleted)
    return events[-1].run_id


def test_me_says_who_a_key_is(api: Api) -> None:
    alice = get(api, api.alice, "/v1/me").json()
    assert (alice["user_id"], alice["admin"]) == ("alice", False)
    assert alice["key_id"].startswith("key_")
    assert get(api, api.admin, "/v1/me").json()["admin"] is True
    assert httpx.get(f"{api.url}/v1/me").status_code == 401


def test_runs_list_the_acting_users_latest_runs_oldest_first(api: Api) -> None:
    api.client(api.alice).agents.create("sb1", slug="support", prompt="Be kind.")
    api.client(api.bob).agents.create("sb9", slug="other", prompt="Be kind.")
    first = finish(api, api.alice, "sb1/support")
    second = finish(api, api.alice, "sb1/support", "again")
    bobs = finish(api, api.bob, "sb9/other")
    runs = get(api, api.alice, "/v1/runs").json()
    assert [r["run_id"] for r in runs] == [first, second]
    assert {r["state"] for r in runs} == {"completed"}
    assert [r["run_id"] for r in get(api, api.alice, "/v1/runs?limit=1").json()] == [second]
    assert [r["run_id"] for r in get(api, api.bob, "/v1/runs").json()] == [bobs]
    as_alice = get(api, api.admin, "/v1/runs", **{"X-Computerouter-User": "alice"}).json()
    assert [r["run_id"] for r in as_alice] == [first, second]
    assert get(api, api.alice, "/v1/runs?limit=0").status_code == 400
    assert [r.run_id for r in api.client(api.alice).runs.list(limit=1)] == [second]


def test_usage_series_buckets_token_compute_and_idle_per_agent(api: Api) -> None:
    client = api.client(api.alice)
    agent = client.agents.create("sb1", slug="support", prompt="Be kind.")
    api.client(api.bob).agents.create("sb9", slug="other", prompt="Be kind.")
    run_id = finish(api, api.alice, "sb1/support")
    finish(api, api.bob, "sb9/other")
    series = get(api, api.alice, "/v1/usage/series?bucket_s=3600").json()
    assert series["bucket_s"] == 3600
    points = series["points"]
    assert {p["user_id"] for p in points} == {"alice"}
    [run_point] = [p for p in points if p["agent_id"] == agent.id]
    bill = client.usage.run(run_id)
    assert bill.token is not None
    assert bill.compute is not None
    assert run_point["start"] % 3600 == 0
    assert run_point["start"] <= bill.token.at < run_point["start"] + 3600
    assert run_point["token_micro"] == bill.token.amount_micro
    assert run_point["compute_micro"] == bill.compute.amount_micro
    usage = client.usage.get()
    spent = sum(p["token_micro"] + p["compute_micro"] + p["idle_micro"] for p in points)
    assert spent == usage.total_micro > 0
    assert client.usage.series(bucket_s=3600).model_dump() == series
    later = get(api, api.alice, f"/v1/usage/series?since={bill.token.at + 3600}").json()
    assert later["points"] == []
    assert get(api, api.alice, "/v1/usage/series?bucket_s=0").status_code == 400


def test_an_admin_reads_every_users_spend_and_a_user_cannot(api: Api) -> None:
    api.client(api.alice).agents.create("sb1", slug="support", prompt="Be kind.")
    api.client(api.bob).agents.create("sb9", slug="other", prompt="Be kind.")
    finish(api, api.alice, "sb1/support")
    finish(api, api.bob, "sb9/other")
    every = get(api, api.admin, "/v1/usage/series?bucket_s=3600&all_users=true").json()
    assert {p["user_id"] for p in every["points"]} == {"alice", "bob"}
    lines = get(api, api.admin, "/v1/usage?all_users=true").json()["lines"]
    assert {x["user_id"] for x in lines} == {"alice", "bob"}
    spent = sum(p["token_micro"] + p["compute_micro"] + p["idle_micro"] for p in every["points"])
    assert spent == sum(x["total_micro"] for x in lines) > 0
    for path in ("/v1/usage/series?all_users=true", "/v1/usage?all_users=true"):
        refused = get(api, api.alice, path)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"


def test_the_audit_trail_lists_pauses_and_unpauses_for_admins_only(api: Api) -> None:
    admin, alice = api.client(api.admin), api.client(api.alice)
    admin.json("POST", "/v1/admin/pauses", json={"scope": "provider:local", "reason": "upgrade"})
    admin.json("POST", "/v1/admin/unpause", json={"scope": "provider:local", "reason": "done"})
    history = admin.json("GET", "/v1/admin/pauses/history")
    assert [(e["action"], e["scope"], e["mode"], e["reason"]) for e in history] == [
        ("pause", "provider:local", "drain", "upgrade"),
        ("unpause", "provider:local", None, "done"),
    ]
    assert all(e["actor"].startswith("api key key_") for e in history)
    assert [e.model_dump() for e in admin.admin.history()] == history
    with pytest.raises(Forbidden):
        alice.json("GET", "/v1/admin/pauses/history")


def test_providers_show_their_circuits_and_price(api: Api) -> None:
    [local] = get(api, api.alice, "/v1/providers").json()
    assert local["circuits"] == []
    assert local["price"]["cpu_hour"] > 0
    api.agents.compute.health.failed("local", now=api.agents.compute.clock.now(), error="boom")
    [cooling] = get(api, api.alice, "/v1/providers").json()
    [circuit] = cooling["circuits"]
    assert (circuit["state"], circuit["failures"], circuit["last_error"]) == ("open", 1, "boom")


def test_ui_serves_the_dashboard_assets(api: Api) -> None:
    page = httpx.get(f"{api.url}/ui", follow_redirects=True)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>ComputeRouter</title>" in page.text
    for asset, kind in (("app.js", "javascript"), ("chart.js", "javascript"), ("style.css", "css")):
        response = httpx.get(f"{api.url}/ui/{asset}")
        assert response.status_code == 200, asset
        assert kind in response.headers["content-type"], asset
    missing = httpx.get(f"{api.url}/ui/nothing-here.js")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_bad_input_to_the_new_endpoints_is_one_input_error(api: Api) -> None:
    with pytest.raises(InputError):
        api.client(api.alice).json("GET", "/v1/usage/series?bucket_s=-5")
