"""The async client: ``AsyncClient(base_url, api_key, transport=None)``, the same calls as
:class:`~computerouter.client.sync.Client`, awaited (on ``httpx.AsyncClient``)."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
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

__all__ = ["AsyncClient"]

_TERMINAL = (RunCompleted, RunFailed, RunCancelled)


class AsyncClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 60.0,
        retries: RetryPolicy | None = None,
        act_for: str | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}", "User-Agent": user_agent()}
        if act_for is not None:
            headers["X-Computerouter-User"] = act_for
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=headers, transport=transport, timeout=timeout_s
        )
        self.retries = retries or RetryPolicy()
        self.agents = AsyncAgents(self)
        self.compute = AsyncCompute(self)
        self.sandboxes = AsyncSandboxes(self)
        self.runs = AsyncRuns(self)
        self.concierge = AsyncConcierge(self)
        self.usage = AsyncUsage(self)
        self.providers = AsyncProviders(self)
        self.credits = AsyncCredits(self)
        self.admin = AsyncAdmin(self)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def request(
        self, method: str, path: str, *, retry: bool = True, **kwargs: Any
    ) -> httpx.Response:
        attempts = self.retries.attempts if retry else 1
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, path, **kwargs)
                raise_for_error(response)
                return response
            except ComputeRouterError as exc:
                if not exc.retryable or attempt + 1 >= attempts:
                    raise
                await asyncio.sleep(self.retries.delay(attempt, exc))
            except httpx.TransportError:
                if attempt + 1 >= attempts:
                    raise
                await asyncio.sleep(self.retries.delay(attempt))
            attempt += 1

    async def json(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> Any:
        return (await self.request(method, path, retry=retry, **kwargs)).json()


class AsyncAgents:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def create(
        self,
        sandbox_id: str,
        *,
        slug: str,
        prompt: str,
        model_settings: Mapping[str, Any] | ModelSettingsIn | None = None,
    ) -> AgentOut:
        settings = ModelSettingsIn.model_validate(model_settings or {})
        body = {"slug": slug, "prompt": prompt, "model_settings": settings.model_dump()}
        path = f"/v1/sandboxes/{sandbox_id}/agents"
        return AgentOut.model_validate(await self._c.json("POST", path, json=body))

    async def list(self, sandbox_id: str | None = None) -> list[AgentOut]:
        params = {} if sandbox_id is None else {"sandbox_id": sandbox_id}
        found = await self._c.json("GET", "/v1/agents", params=params)
        return [AgentOut.model_validate(a) for a in found]

    async def get(self, sandbox_id: str, slug: str) -> AgentOut:
        path = f"/v1/sandboxes/{sandbox_id}/agents/{slug}"
        return AgentOut.model_validate(await self._c.json("GET", path))

    async def update(
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
        path = f"/v1/sandboxes/{sandbox_id}/agents/{slug}"
        return AgentOut.model_validate(await self._c.json("PATCH", path, json=body))

    async def route(
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
        return PlacementOut.model_validate(await self._c.json("GET", path, params=params))

    async def delete(self, sandbox_id: str, slug: str) -> None:
        await self._c.request("DELETE", f"/v1/sandboxes/{sandbox_id}/agents/{slug}")


class AsyncSessions:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def ensure(
        self, sandbox_id: str, *, provider: str | None = None, runtime: str | None = None
    ) -> SessionOut:
        body = {"sandbox_id": sandbox_id, "provider": provider, "runtime": runtime}
        return SessionOut.model_validate(
            await self._c.json("POST", "/v1/compute/sessions", json=body)
        )

    async def list(
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
        found = await self._c.json("GET", "/v1/compute/sessions", params=params)
        return [SessionOut.model_validate(s) for s in found]

    async def get(self, session_id: str) -> SessionOut:
        path = f"/v1/compute/sessions/{session_id}"
        return SessionOut.model_validate(await self._c.json("GET", path))

    async def _act(self, session_id: str, action: str) -> SessionOut:
        path = f"/v1/compute/sessions/{session_id}/{action}"
        return SessionOut.model_validate(await self._c.json("POST", path))

    async def suspend(self, session_id: str) -> SessionOut:
        return await self._act(session_id, "suspend")

    async def resume(self, session_id: str) -> SessionOut:
        return await self._act(session_id, "resume")

    async def archive(self, session_id: str) -> SessionOut:
        return await self._act(session_id, "archive")

    async def recover(self, session_id: str) -> SessionOut:
        """A failed session whose workspace is kept as an archive, back to ``archived``."""
        return await self._act(session_id, "recover")

    async def destroy(self, session_id: str) -> SessionOut:
        path = f"/v1/compute/sessions/{session_id}"
        return SessionOut.model_validate(await self._c.json("DELETE", path))

    async def logs(self, session_id: str, *, lines: int = 100) -> builtins.list[LogLineOut]:
        """The last ``lines`` lines of each of the session's logs."""
        path = session_path(session_id, "/logs")
        found = await self._c.json("GET", path, params={"lines": lines})
        return [LogLineOut.model_validate(line) for line in found]

    async def follow_logs(self, session_id: str, *, lines: int = 100) -> AsyncIterator[LogLineOut]:
        """The last ``lines`` lines of each log, then new lines as they come, until the
        instance is gone (not resumed on a dropped connection)."""
        parser = LogSseParser()
        path = session_path(session_id, "/logs/follow")
        headers = {"Accept": "text/event-stream"}
        async with self._c._http.stream(
            "GET", path, params={"lines": lines}, headers=headers
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                raise_for_error(response)
            async for text in response.aiter_lines():
                line = parser.line(text)
                if line is not None:
                    yield line

    async def exec(
        self, session_id: str, argv: Sequence[str], *, timeout_s: float = 30.0
    ) -> ExecOut:
        """Admin keys only: run ``argv`` inside the running session (once: never retried)."""
        body = exec_body(argv, timeout_s)
        path = session_path(session_id, "/exec")
        timeout = exec_timeout(self._c._http.timeout, timeout_s)
        found = await self._c.json("POST", path, json=body, retry=False, timeout=timeout)
        return ExecOut.model_validate(found)


class AsyncCompute:
    def __init__(self, client: AsyncClient) -> None:
        self.sessions = AsyncSessions(client)


class AsyncConcierge:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def ask(self, text: str, *, yes: bool = False) -> RunOut:
        """A run of the caller's Concierge on ``text`` (made on first use); follow it with
        ``runs.events(run_id)``. ``yes`` confirms destructive operations for this run."""
        body = {"input": text, "yes": yes}
        return RunOut.model_validate(await self._c.json("POST", "/v1/concierge", json=body))


class AsyncSandboxes:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def settings(self, sandbox_id: str) -> SandboxSettingsOut:
        """The sandbox's settings and the server's defaults for those unset."""
        path = f"/v1/sandboxes/{sandbox_id}/settings"
        return SandboxSettingsOut.model_validate(await self._c.json("GET", path))

    async def set_settings(
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
        return SandboxSettingsOut.model_validate(await self._c.json("PUT", path, json=body))


class AsyncRuns:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def start(self, agent: str, text: str) -> RunOut:
        body = {"agent": agent, "input": text}
        return RunOut.model_validate(await self._c.json("POST", "/v1/runs", json=body))

    async def stream(self, agent: str, text: str) -> AsyncIterator[AgentEvent]:
        run = await self.start(agent, text)
        async for event in self.events(run.run_id):
            yield event

    async def events(self, run_id: str, *, after: str | None = None) -> AsyncIterator[AgentEvent]:
        parser = SseParser()
        parser.last_id = after
        attempt = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if parser.last_id is not None:
                headers["Last-Event-ID"] = parser.last_id
            ended = False
            try:
                async with self._c._http.stream(
                    "GET", f"/v1/runs/{run_id}/events", headers=headers
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise_for_error(response)
                    async for line in response.aiter_lines():
                        event = parser.line(line)
                        if event is not None:
                            yield event
                            ended = isinstance(event, _TERMINAL)
                return
            except httpx.TransportError:
                if ended or attempt + 1 >= self._c.retries.attempts:
                    raise
                await asyncio.sleep(self._c.retries.delay(attempt))
                attempt += 1

    async def get(self, run_id: str) -> RunOut:
        return RunOut.model_validate(await self._c.json("GET", f"/v1/runs/{run_id}"))

    async def list(
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
        found = await self._c.json("GET", "/v1/runs", params=params)
        return [RunSummaryOut.model_validate(s) for s in found]

    async def summary(self, run_id: str) -> RunSummaryOut:
        """One run with where it ran, how it ended and what it cost."""
        return RunSummaryOut.model_validate(await self._c.json("GET", f"/v1/runs/{run_id}/summary"))

    async def cancel(self, run_id: str) -> RunOut:
        return RunOut.model_validate(await self._c.json("POST", f"/v1/runs/{run_id}/cancel"))

    async def approve(self, run_id: str, choice: str = "once") -> RunOut:
        body = {"choice": choice}
        path = f"/v1/runs/{run_id}/approval"
        return RunOut.model_validate(await self._c.json("POST", path, json=body))

    async def deny(self, run_id: str) -> RunOut:
        return await self.approve(run_id, "deny")


class AsyncUsage:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def get(
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
        return UsageOut.model_validate(await self._c.json("GET", "/v1/usage", params=params))

    async def series(self, *, bucket_s: float = 60, since: float | None = None) -> SpendSeriesOut:
        """Spend over time: token, compute and idle per (sandbox, agent) per bucket."""
        params: dict[str, float] = {"bucket_s": bucket_s}
        if since is not None:
            params["since"] = since
        found = await self._c.json("GET", "/v1/usage/series", params=params)
        return SpendSeriesOut.model_validate(found)

    async def run(self, run_id: str) -> RunBillOut:
        return RunBillOut.model_validate(await self._c.json("GET", f"/v1/usage/runs/{run_id}"))


class AsyncCredits:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def get(self) -> CreditsOut:
        return CreditsOut.model_validate(await self._c.json("GET", "/v1/credits"))

    async def grant(
        self, user_id: str, amount_micro: int, *, note: str = "", key: str = ""
    ) -> GrantOut:
        """Admin keys only: credit a user's account (once per ``key``, when one is given)."""
        body = {"user_id": user_id, "amount_micro": amount_micro, "note": note, "key": key}
        return GrantOut.model_validate(await self._c.json("POST", "/v1/credits/grants", json=body))

    async def audit(self) -> AuditOut:
        """Admin keys only: every account against its entries, every hold against a live run."""
        return AuditOut.model_validate(await self._c.json("GET", "/v1/admin/credits/audit"))


class AsyncProviders:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def list(self) -> list[ProviderOut]:
        """Providers this server offers, with their health as it has seen it."""
        return [ProviderOut.model_validate(p) for p in await self._c.json("GET", "/v1/providers")]

    async def report(self) -> builtins.list[ProviderReportOut]:
        """Every registered provider, offered or not: configured or what to set, regions,
        capabilities, list prices and circuits (what ``compute providers`` prints)."""
        found = await self._c.json("GET", "/v1/providers/report")
        return [ProviderReportOut.model_validate(p) for p in found]


class AsyncAdmin:
    """Admin keys only: the kill switch by scope (``global``, ``user:U``, ``provider:P``)."""

    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def pauses(self) -> list[PauseOut]:
        found = await self._c.json("GET", "/v1/admin/pauses")
        return [PauseOut.model_validate(p) for p in found]

    async def history(self, *, limit: int = 100) -> list[PauseEventOut]:
        """The kill switch's audit trail, oldest first (the latest ``limit`` lines)."""
        found = await self._c.json("GET", "/v1/admin/pauses/history", params={"limit": limit})
        return [PauseEventOut.model_validate(e) for e in found]

    async def pause(self, scope: str, *, reason: str, mode: str = "drain") -> PauseOut:
        body = PauseIn.model_validate({"scope": scope, "reason": reason, "mode": mode})
        return PauseOut.model_validate(
            await self._c.json("POST", "/v1/admin/pauses", json=body.model_dump())
        )

    async def unpause(self, scope: str, *, reason: str) -> list[PauseOut]:
        body = UnpauseIn(scope=scope, reason=reason).model_dump()
        found = await self._c.json("POST", "/v1/admin/unpause", json=body)
        return [PauseOut.model_validate(p) for p in found]
