"""The sync client: ``Client(base_url, api_key, transport=None)``."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from computerouter.client.core import (
    LogSseParser,
    RetryPolicy,
    SseParser,
    exec_body,
    exec_timeout,
    raise_for_error,
    sandbox_settings_body,
    session_path,
    user_agent,
)
from computerouter.domain.events import AgentEvent, RunCancelled, RunCompleted, RunFailed
from computerouter.errors import ComputeRouterError
from computerouter.wire.models import (
    AgentOut,
    AuditOut,
    CreditsOut,
    GrantOut,
    ModelSettingsIn,
    PauseEventOut,
    PauseIn,
    PauseOut,
    ProviderOut,
    ProviderReportOut,
    RunBillOut,
    RunOut,
    RunSummaryOut,
    SessionOut,
    UnpauseIn,
    UsageOut,
)
from computerouter.wire.placement import PlacementOut
from computerouter.wire.reports import SpendSeriesOut
from computerouter.wire.session_io import (
    ExecOut,
    LogLineOut,
    SandboxSettingsOut,
)

__all__ = ["Client"]

_TERMINAL = (RunCompleted, RunFailed, RunCancelled)


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 60.0,
        retries: RetryPolicy | None = None,
        act_for: str | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}", "User-Agent": user_agent()}
        if act_for is not None:
            headers["X-Computerouter-User"] = act_for
        self._http = httpx.Client(
            base_url=base_url, headers=headers, transport=transport, timeout=timeout_s
        )
        self.retries = retries or RetryPolicy()
        self.agents = Agents(self)
        self.compute = Compute(self)
        self.sandboxes = Sandboxes(self)
        self.runs = Runs(self)
        self.concierge = ConciergeApi(self)
        self.usage = UsageApi(self)
        self.providers = Providers(self)
        self.credits = Credits(self)
        self.admin = Admin(self)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self, method: str, path: str, *, retry: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """One call, retried (with backoff) only on retryable errors and failed connections;
        ``retry=False``: one attempt (what must not run twice)."""
        attempts = self.retries.attempts if retry else 1
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
                raise_for_error(response)
                return response
            except ComputeRouterError as exc:
                if not exc.retryable or attempt + 1 >= attempts:
                    raise
                time.sleep(self.retries.delay(attempt, exc))
            except httpx.TransportError:
                if attempt + 1 >= attempts:
                    raise
                time.sleep(self.retries.delay(attempt))
            attempt += 1

    def json(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> Any:
        return self.request(method, path, retry=retry, **kwargs).json()


class Agents:
    def __init__(self, client: Client) -> None:
        self._c = client

    def create(
        self,
        sandbox_id: str,
        *,
        slug: str,
        prompt: str,
        model_settings: Mapping[str, Any] | ModelSettingsIn | None = None,
    ) -> AgentOut:
        settings = ModelSettingsIn.model_validate(model_settings or {})
        body = {"slug": slug, "prompt": prompt, "model_settings": settings.model_dump()}
        return AgentOut.model_validate(
            self._c.json("POST", f"/v1/sandboxes/{sandbox_id}/agents", json=body)
        )

    def list(self, sandbox_id: str | None = None) -> list[AgentOut]:
        params = {} if sandbox_id is None else {"sandbox_id": sandbox_id}
        return [
            AgentOut.model_validate(a) for a in self._c.json("GET", "/v1/agents", params=params)
        ]

    def get(self, sandbox_id: str, slug: str) -> AgentOut:
        return AgentOut.model_validate(
            self._c.json("GET", f"/v1/sandboxes/{sandbox_id}/agents/{slug}")
        )

    def update(
        self,
        sandbox_id: str,
        slug: str,
        *,
        prompt: str | None = None,
        model_settings: Mapping[str, Any] | ModelSettingsIn | None = None,
    ) -> AgentOut:
        body: dict[str, Any] = {}
        if prompt is not None:
            body["prompt"] = prompt
        if model_settings is not None:
            body["model_settings"] = ModelSettingsIn.model_validate(model_settings).model_dump()
        return AgentOut.model_validate(
            self._c.json("PATCH", f"/v1/sandboxes/{sandbox_id}/agents/{slug}", json=body)
        )

    def route(
        self,
        sandbox_id: str,
        slug: str,
        *,
        region: str | None = None,
        policy: str | None = None,
    ) -> PlacementOut:
        """The placement decision for the agent's next new session (``route explain``)."""
        params = {k: v for k, v in (("region", region), ("policy", policy)) if v}
        path = f"/v1/sandboxes/{sandbox_id}/agents/{slug}/route"
        return PlacementOut.model_validate(self._c.json("GET", path, params=params))

    def delete(self, sandbox_id: str, slug: str) -> None:
        self._c.request("DELETE", f"/v1/sandboxes/{sandbox_id}/agents/{slug}")


class Sessions:
    def __init__(self, client: Client) -> None:
        self._c = client

    def ensure(
        self, sandbox_id: str, *, provider: str | None = None, runtime: str | None = None
    ) -> SessionOut:
        body = {"sandbox_id": sandbox_id, "provider": provider, "runtime": runtime}
        return SessionOut.model_validate(self._c.json("POST", "/v1/compute/sessions", json=body))

    def list(
        self,
        sandbox_id: str | None = None,
        *,
        agent_slug: str | None = None,
        include_ended: bool = False,
    ) -> list[SessionOut]:
        params: dict[str, Any] = {"all": include_ended}
        if sandbox_id is not None:
            params["sandbox_id"] = sandbox_id
        if agent_slug is not None:
            params["agent_slug"] = agent_slug
        found = self._c.json("GET", "/v1/compute/sessions", params=params)
        return [SessionOut.model_validate(s) for s in found]

    def get(self, session_id: str) -> SessionOut:
        return SessionOut.model_validate(self._c.json("GET", f"/v1/compute/sessions/{session_id}"))

    def _act(self, session_id: str, action: str) -> SessionOut:
        path = f"/v1/compute/sessions/{session_id}/{action}"
        return SessionOut.model_validate(self._c.json("POST", path))

    def suspend(self, session_id: str) -> SessionOut:
        return self._act(session_id, "suspend")

    def resume(self, session_id: str) -> SessionOut:
        return self._act(session_id, "resume")

    def archive(self, session_id: str) -> SessionOut:
        return self._act(session_id, "archive")

    def recover(self, session_id: str) -> SessionOut:
        """A failed session whose workspace is kept as an archive, back to ``archived``."""
        return self._act(session_id, "recover")

    def destroy(self, session_id: str) -> SessionOut:
        path = f"/v1/compute/sessions/{session_id}"
        return SessionOut.model_validate(self._c.json("DELETE", path))

    def logs(self, session_id: str, *, lines: int = 100) -> builtins.list[LogLineOut]:
        """The last ``lines`` lines of each of the session's logs (``LogsArchived`` when they
        are packed in its archive)."""
        path = session_path(session_id, "/logs")
        found = self._c.json("GET", path, params={"lines": lines})
        return [LogLineOut.model_validate(line) for line in found]

    def follow_logs(self, session_id: str, *, lines: int = 100) -> Iterator[LogLineOut]:
        """The last ``lines`` lines of each log, then new lines as they come, until the
        instance is gone (or the caller stops iterating). Not resumed on a dropped
        connection: the caller would see the last lines twice."""
        parser = LogSseParser()
        path = session_path(session_id, "/logs/follow")
        headers = {"Accept": "text/event-stream"}
        with self._c._http.stream(
            "GET", path, params={"lines": lines}, headers=headers
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise_for_error(response)
            for text in response.iter_lines():
                line = parser.line(text)
                if line is not None:
                    yield line

    def exec(self, session_id: str, argv: Sequence[str], *, timeout_s: float = 30.0) -> ExecOut:
        """Admin keys only: run ``argv`` inside the running session (once: never retried)."""
        body = exec_body(argv, timeout_s)
        path = session_path(session_id, "/exec")
        found = self._c.json(
            "POST",
            path,
            json=body,
            retry=False,
            timeout=exec_timeout(self._c._http.timeout, timeout_s),
        )
        return ExecOut.model_validate(found)


class Compute:
    def __init__(self, client: Client) -> None:
        self.sessions = Sessions(client)


class ConciergeApi:
    def __init__(self, client: Client) -> None:
        self._c = client

    def ask(self, text: str, *, yes: bool = False) -> RunOut:
        """A run of the caller's Concierge on ``text`` (made on first use); follow it with
        ``runs.events(run_id)``. ``yes`` confirms destructive operations for this run."""
        body = {"input": text, "yes": yes}
        return RunOut.model_validate(self._c.json("POST", "/v1/concierge", json=body))


class Sandboxes:
    """A sandbox's lifecycle windows and runtime ceilings (``None``: the server's default)."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def settings(self, sandbox_id: str) -> SandboxSettingsOut:
        """The sandbox's settings and the server's defaults for those unset."""
        path = f"/v1/sandboxes/{sandbox_id}/settings"
        return SandboxSettingsOut.model_validate(self._c.json("GET", path))

    def set_settings(
        self,
        sandbox_id: str,
        *,
        idle_suspend_s: float | None = None,
        archive_after_s: float | None = None,
        max_run_s: float | None = None,
        max_uptime_s: float | None = None,
    ) -> SandboxSettingsOut:
        """Set all four, whole: each one left ``None`` goes back to the default."""
        body = sandbox_settings_body(
            idle_suspend_s=idle_suspend_s,
            archive_after_s=archive_after_s,
            max_run_s=max_run_s,
            max_uptime_s=max_uptime_s,
        )
        path = f"/v1/sandboxes/{sandbox_id}/settings"
        return SandboxSettingsOut.model_validate(self._c.json("PUT", path, json=body))


class Runs:
    def __init__(self, client: Client) -> None:
        self._c = client

    def start(self, agent: str, text: str) -> RunOut:
        """Start a run of ``agent`` (SANDBOX/SLUG); returns once its session is ready."""
        body = {"agent": agent, "input": text}
        return RunOut.model_validate(self._c.json("POST", "/v1/runs", json=body))

    def stream(self, agent: str, text: str) -> Iterator[AgentEvent]:
        """Start a run and iterate its typed events until it ends (resuming, by
        ``Last-Event-ID``, if the connection drops)."""
        run = self.start(agent, text)
        return self.events(run.run_id)

    def events(self, run_id: str, *, after: str | None = None) -> Iterator[AgentEvent]:
        parser = SseParser()
        parser.last_id = after
        attempt = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if parser.last_id is not None:
                headers["Last-Event-ID"] = parser.last_id
            ended = False
            try:
                with self._c._http.stream(
                    "GET", f"/v1/runs/{run_id}/events", headers=headers
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise_for_error(response)
                    for event in parser.feed(response.iter_lines()):
                        yield event
                        ended = isinstance(event, _TERMINAL)
                return
            except httpx.TransportError:
                if ended or attempt + 1 >= self._c.retries.attempts:
                    raise
                time.sleep(self._c.retries.delay(attempt))
                attempt += 1

    def get(self, run_id: str) -> RunOut:
        return RunOut.model_validate(self._c.json("GET", f"/v1/runs/{run_id}"))

    def list(
        self,
        *,
        sandbox_id: str | None = None,
        agent: str | None = None,
        limit: int = 100,
    ) -> list[RunSummaryOut]:
        """The latest ``limit`` runs, oldest first, each with where it ran and what it cost;
        ``agent`` is a slug, SANDBOX/SLUG or an agent id."""
        params: dict[str, Any] = {"limit": limit}
        if sandbox_id is not None:
            params["sandbox_id"] = sandbox_id
        if agent is not None:
            params["agent"] = agent
        found = self._c.json("GET", "/v1/runs", params=params)
        return [RunSummaryOut.model_validate(s) for s in found]

    def summary(self, run_id: str) -> RunSummaryOut:
        """One run with where it ran, how it ended and what it cost."""
        return RunSummaryOut.model_validate(self._c.json("GET", f"/v1/runs/{run_id}/summary"))

    def cancel(self, run_id: str) -> RunOut:
        return RunOut.model_validate(self._c.json("POST", f"/v1/runs/{run_id}/cancel"))

    def approve(self, run_id: str, choice: str = "once") -> RunOut:
        body = {"choice": choice}
        return RunOut.model_validate(self._c.json("POST", f"/v1/runs/{run_id}/approval", json=body))

    def deny(self, run_id: str) -> RunOut:
        return self.approve(run_id, "deny")


class UsageApi:
    def __init__(self, client: Client) -> None:
        self._c = client

    def get(
        self,
        *,
        sandbox_id: str | None = None,
        agent_id: str | None = None,
        since: float | None = None,
    ) -> UsageOut:
        """Cost per (sandbox, agent) of the acting user; ``since``: entries from then (epoch
        seconds)."""
        params: dict[str, Any] = {
            k: v for k, v in (("sandbox_id", sandbox_id), ("agent_id", agent_id)) if v
        }
        if since is not None:
            params["since"] = since
        return UsageOut.model_validate(self._c.json("GET", "/v1/usage", params=params))

    def series(self, *, bucket_s: float = 60, since: float | None = None) -> SpendSeriesOut:
        """Spend over time: token, compute and idle per (sandbox, agent) per bucket."""
        params: dict[str, float] = {"bucket_s": bucket_s}
        if since is not None:
            params["since"] = since
        found = self._c.json("GET", "/v1/usage/series", params=params)
        return SpendSeriesOut.model_validate(found)

    def run(self, run_id: str) -> RunBillOut:
        return RunBillOut.model_validate(self._c.json("GET", f"/v1/usage/runs/{run_id}"))


class Credits:
    def __init__(self, client: Client) -> None:
        self._c = client

    def get(self) -> CreditsOut:
        return CreditsOut.model_validate(self._c.json("GET", "/v1/credits"))

    def grant(self, user_id: str, amount_micro: int, *, note: str = "", key: str = "") -> GrantOut:
        """Admin keys only: credit a user's account (once per ``key``, when one is given)."""
        body = {"user_id": user_id, "amount_micro": amount_micro, "note": note, "key": key}
        return GrantOut.model_validate(self._c.json("POST", "/v1/credits/grants", json=body))

    def audit(self) -> AuditOut:
        """Admin keys only: every account against its entries, every hold against a live run."""
        return AuditOut.model_validate(self._c.json("GET", "/v1/admin/credits/audit"))


class Providers:
    def __init__(self, client: Client) -> None:
        self._c = client

    def list(self) -> list[ProviderOut]:
        """Providers this server offers, with their health as it has seen it."""
        return [ProviderOut.model_validate(p) for p in self._c.json("GET", "/v1/providers")]

    def report(self) -> builtins.list[ProviderReportOut]:
        """Every registered provider, offered or not: configured or what to set, regions,
        capabilities, list prices and circuits (what ``compute providers`` prints)."""
        found = self._c.json("GET", "/v1/providers/report")
        return [ProviderReportOut.model_validate(p) for p in found]


class Admin:
    """Admin keys only: the kill switch by scope (``global``, ``user:U``, ``provider:P``)."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def pauses(self) -> list[PauseOut]:
        return [PauseOut.model_validate(p) for p in self._c.json("GET", "/v1/admin/pauses")]

    def history(self, *, limit: int = 100) -> list[PauseEventOut]:
        """The kill switch's audit trail, oldest first (the latest ``limit`` lines)."""
        found = self._c.json("GET", "/v1/admin/pauses/history", params={"limit": limit})
        return [PauseEventOut.model_validate(e) for e in found]

    def pause(self, scope: str, *, reason: str, mode: str = "drain") -> PauseOut:
        body = PauseIn.model_validate({"scope": scope, "reason": reason, "mode": mode})
        return PauseOut.model_validate(
            self._c.json("POST", "/v1/admin/pauses", json=body.model_dump())
        )

    def unpause(self, scope: str, *, reason: str) -> list[PauseOut]:
        body = UnpauseIn(scope=scope, reason=reason).model_dump()
        return [
            PauseOut.model_validate(p) for p in self._c.json("POST", "/v1/admin/unpause", json=body)
        ]
