"""``GET /metrics`` parses with the Prometheus text parser, and its counters move as runs
happen: runs by outcome, ledger entries, session readiness, tokens, refusals."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from computerouter.testing.live_api import Api


def scrape(api: Api, key: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{api.url}/metrics", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counters_move_as_runs_happen(api: Api) -> None:
    alice = api.client(api.alice)
    alice.agents.create("sb1", slug="support", prompt="You are support.")
    before = scrape(api, api.admin)

    for _ in alice.runs.stream("sb1/support", "hello"):
        pass
    after = scrape(api, api.admin)

    assert (
        value(after, "computerouter_runs_total", state="completed")
        == value(before, "computerouter_runs_total", state="completed") + 1
    )
    for kind in ("token", "compute"):
        assert (
            value(after, "computerouter_ledger_entries_total", kind=kind)
            == value(before, "computerouter_ledger_entries_total", kind=kind) + 1
        ), kind
    assert value(after, "computerouter_sessions", state="running", provider="local") == 1
    ready = [k for k in after if k[0] == "computerouter_session_ready_seconds_count"]
    assert sum(after[k] for k in ready) == sum(before.get(k, 0.0) for k in ready) + 1
    assert value(after, "computerouter_process_runs_total", outcome="completed", code="") >= 1

    admin = api.client(api.admin)
    admin.admin.pause("user:alice", reason="metrics test")
    refused = httpx.post(
        f"{api.url}/v1/runs",
        json={"agent": "sb1/support", "input": "again"},
        headers={"Authorization": f"Bearer {api.alice}"},
    )
    assert refused.status_code >= 400
    paused = scrape(api, api.admin)
    assert value(paused, "computerouter_pauses") == 1
    assert (
        value(paused, "computerouter_refusals_total", code="paused")
        == value(after, "computerouter_refusals_total", code="paused") + 1
    )


def test_metrics_need_an_admin_key(api: Api) -> None:
    response = httpx.get(f"{api.url}/metrics", headers={"Authorization": f"Bearer {api.alice}"})
    assert response.status_code == 403
    assert httpx.get(f"{api.url}/metrics").status_code == 401
