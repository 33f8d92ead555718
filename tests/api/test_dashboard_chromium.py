"""Acceptance (dashboard): the dashboard at ``/ui`` in a real headless Chromium (Debian's
``chromium``, driven over CDP by playwright) against a live server: log in with a key, see a
session appear and change state without a reload, see the spend chart grow after a run, read a
run's event timeline, pause and unpause a provider as an admin (checked through the API) and
see another user's sessions by acting for them; every page is screenshotted; no console
errors; another user's data never shows on a user's pages."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from computerouter.testing.live_api import Api, live_api

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")
BOB_SANDBOX = "bobs-secret-sandbox"
BOB_AGENT = "bobs-secret-agent"
PAGES = ("sessions", "providers", "spend", "runs", "switches")

if CHROMIUM is None:
    pytest.skip("needs Debian's chromium (scripts/bootstrap installs it)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    home = tmp_path / "home"
    home.mkdir()
    with live_api(home) as world:
        yield world


def _finish(api: Api, key: str, agent: str, text: str) -> str:
    events = list(api.client(key).runs.stream(agent, text))
    return events[-1].run_id


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Dashboard:
    """One browser tab on the dashboard, with what it said on its console and what it showed."""

    page: Any
    url: str
    shots: Path
    errors: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def login(self, key: str, who: str) -> None:
        self.page.goto(f"{self.url}/ui")
        self.page.fill("#key", key)
        self.page.click("#login button[type=submit]")
        self.page.wait_for_selector(f"#who-text:has-text('{who}')")

    def visit(self, name: str) -> None:
        self.page.click(f"nav a[data-page={name}]")
        self.page.wait_for_selector(f"#page-{name}:not([hidden])")

    def seen(self) -> None:
        """Keep the page's text after at least one poll of the page shown."""
        self.page.wait_for_timeout(1200)
        self.texts.append(self.page.inner_text("body"))

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def number(self, selector: str, attribute: str) -> int:
        return int(self.page.get_attribute(selector, attribute) or 0)


def a_session_appears_and_changes_state_live(ui: Dashboard, api: Api) -> str:
    page = ui.page
    page.wait_for_selector("#sessions-empty:not([hidden])")
    ui.shot("login-sessions-empty")
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page
    first = _finish(api, api.alice, "alice-sb/helper", "hello")
    row = page.wait_for_selector("#sessions-body tr[data-state=running]")
    session_id = row.get_attribute("data-session")
    assert session_id == api.client(api.alice).runs.get(first).session_id
    ui.seen()
    api.client(api.alice).compute.sessions.suspend(session_id)
    where = f"#sessions-body tr[data-session='{session_id}']"
    page.wait_for_selector(f"{where}[data-state=suspended]")
    assert "suspended" in page.inner_text(where)
    assert page.evaluate("window.sameDocument") is True
    ui.seen()
    ui.shot("sessions")
    return first


def the_spend_chart_grows_after_a_run(ui: Dashboard, api: Api) -> str:
    page, chart = ui.page, "#spend-chart svg"
    ui.visit("spend")
    page.select_option("#spend-bucket", "10")
    page.wait_for_selector(f"{chart}[data-bars]")
    _wait(lambda: ui.number(chart, "data-total") > 0, "the spend of the first run")
    before = ui.number(chart, "data-total")
    second = _finish(api, api.alice, "alice-sb/helper", "TOOL count the files")
    _wait(lambda: ui.number(chart, "data-total") > before, "the chart to grow after a run")
    assert page.locator(f"{chart} rect").count() > 0
    for by in ("user", "sandbox", "agent", "kind"):
        page.select_option("#spend-by", by)
        ui.seen()
    ui.shot("spend")
    return second


def runs_show_their_event_timelines(ui: Dashboard, first: str, second: str) -> None:
    page = ui.page
    ui.visit("runs")
    page.wait_for_selector(f"#runs-body tr[data-run='{second}']")
    assert page.locator(f"#runs-body tr[data-run='{first}']").count() == 1
    page.click(f"#runs-body tr[data-run='{second}']")
    page.wait_for_selector("#timeline-events li[data-kind='run.completed']")
    kinds = page.eval_on_selector_all("#timeline-events li", "els => els.map(e => e.dataset.kind)")
    assert kinds[0] == "session.ready"
    assert "tool.started" in kinds
    assert kinds.count("message.delta") == 1  # the deltas of one message make one line
    ui.seen()
    ui.shot("runs")


def providers_and_the_switches_a_user_cannot_use(ui: Dashboard) -> None:
    ui.visit("providers")
    ui.page.wait_for_selector("#providers-body tr[data-provider=local]")
    assert "healthy" in ui.page.inner_text("#providers-body tr[data-provider=local]")
    ui.seen()
    ui.shot("providers")
    ui.visit("switches")
    ui.page.wait_for_selector("#switches-admin-only:not([hidden])")
    ui.seen()
    ui.shot("switches-user")


def an_admin_pauses_and_unpauses_a_provider(ui: Dashboard, api: Api) -> None:
    page, local = ui.page, "#switches-body tr[data-provider=local]"
    admin = {"Authorization": f"Bearer {api.admin}"}
    page.click("#logout")
    ui.login(api.admin, "ops")
    ui.visit("switches")
    page.wait_for_selector(f"{local}[data-paused=false]")
    page.fill("#switch-reason", "maintenance window")
    page.click(f"{local} button")
    page.wait_for_selector(f"{local}[data-paused=true]")
    pauses = httpx.get(f"{api.url}/v1/admin/pauses", headers=admin).json()
    assert [(p["scope"], p["reason"]) for p in pauses] == [("provider:local", "maintenance window")]
    page.wait_for_selector("#audit-body tr")
    ui.shot("switches-paused")
    page.click(f"{local} button")
    page.wait_for_selector(f"{local}[data-paused=false]")
    assert httpx.get(f"{api.url}/v1/admin/pauses", headers=admin).json() == []
    history = httpx.get(f"{api.url}/v1/admin/pauses/history", headers=admin).json()
    assert [(e["action"], e["scope"]) for e in history] == [
        ("pause", "provider:local"),
        ("unpause", "provider:local"),
    ]
    page.wait_for_selector("#audit-body tr:nth-child(2)")
    ui.shot("switches")


def an_admin_sees_another_users_sessions_and_every_users_spend(ui: Dashboard) -> None:
    page = ui.page
    ui.visit("sessions")
    page.wait_for_selector("#sessions-empty:not([hidden])")  # the admin's own: none
    page.fill("#act-user", "bob")
    page.dispatch_event("#act-user", "change")
    page.wait_for_selector(f"#sessions-body td:has-text('{BOB_SANDBOX}')")
    ui.shot("sessions-admin-for-bob")
    page.fill("#act-user", "")
    page.dispatch_event("#act-user", "change")
    ui.visit("spend")
    page.check("#spend-all")
    page.select_option("#spend-by", "user")
    page.wait_for_selector("#spend-legend span:has-text('bob')")
    assert "alice" in page.inner_text("#spend-legend")
    assert {"alice", "bob"} <= set(
        page.eval_on_selector_all(
            "#spend-body tr td:first-child", "els => els.map(e => e.textContent)"
        )
    )
    ui.shot("spend-admin-every-user")


def test_the_dashboard_in_chromium(api: Api, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"dashboard screenshots in {shots}")
    bob = api.client(api.bob)
    bob.agents.create(BOB_SANDBOX, slug=BOB_AGENT, prompt="Keep secrets.")
    _finish(api, api.bob, f"{BOB_SANDBOX}/{BOB_AGENT}", "hello from bob")
    api.client(api.alice).agents.create("alice-sb", slug="helper", prompt="Be kind.")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        ui = Dashboard(page=page, url=api.url, shots=shots)
        page.on("console", lambda m: ui.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: ui.errors.append(f"page error: {e}"))
        ui.login(api.alice, "alice")
        first = a_session_appears_and_changes_state_live(ui, api)
        second = the_spend_chart_grows_after_a_run(ui, api)
        runs_show_their_event_timelines(ui, first, second)
        providers_and_the_switches_a_user_cannot_use(ui)
        alices_texts = list(ui.texts)
        an_admin_pauses_and_unpauses_a_provider(ui, api)
        an_admin_sees_another_users_sessions_and_every_users_spend(ui)
        browser.close()

    assert ui.errors == []
    assert len(alices_texts) >= 8
    assert sum("alice-sb" in text for text in alices_texts) >= 6  # her own data shows
    for text in alices_texts:
        assert BOB_SANDBOX not in text
        assert BOB_AGENT not in text
    made = sorted(p.name for p in shots.glob("*.png"))
    assert len(made) == 10, made
    for png in shots.glob("*.png"):
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG"), png
        assert len(data) > 5_000, png
