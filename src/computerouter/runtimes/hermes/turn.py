"""One agent turn on the Hermes `/v1/runs` API, as a TurnHandle."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from computerouter.domain.events import AgentEvent, RunFailed
from computerouter.errors import InputError, RuntimeFailure
from computerouter.runtimes.base import EventContext, TurnRequest
from computerouter.runtimes.hermes.events import TERMINAL, parse_sse, translate

__all__ = ["HermesTurn", "conversation_history"]

APPROVAL_CHOICES = ("once", "session", "always", "deny")


def conversation_history(client: httpx.Client, conversation: str) -> tuple[tuple[str, str], ...]:
    """Earlier user and assistant turns of ``conversation`` as ``(role, text)``, oldest
    first."""
    try:
        response = client.get(f"/api/sessions/{conversation}/messages")
    except httpx.HTTPError as exc:
        raise RuntimeFailure(f"could not read the conversation from Hermes: {exc}") from exc
    if response.status_code == 404:
        return ()
    if response.status_code != 200:
        raise RuntimeFailure(f"Hermes conversation read: HTTP {response.status_code}")
    history: list[dict[str, str]] = []
    for message in response.json().get("data", []):
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant") or not isinstance(content, str) or not content.strip():
            continue
        if role == "user" and history and history[-1]["role"] == "user":
            # The earlier input was never answered (its turn failed or was cancelled): drop
            # it, or the model would take both as one message and repeat what went wrong.
            history.pop()
        history.append({"role": role, "content": content})
    if history and history[-1]["role"] == "user":
        history.pop()
    return tuple((turn["role"], turn["content"]) for turn in history)


class HermesTurn:
    def __init__(
        self,
        client: httpx.Client,
        request: TurnRequest,
        context: EventContext,
        *,
        model: str,
        turn_timeout_s: float,
    ) -> None:
        self._client = client
        self._context = context
        self._model = model
        self._timeout = turn_timeout_s
        body: dict[str, Any] = {"input": request.input}
        if request.instructions:
            body["instructions"] = request.instructions  # per run: Hermes does not keep it
        if request.conversation:
            # Hermes stores every turn under session_id but does not load earlier turns for
            # /v1/runs; they go back in as conversation_history, read from Hermes's own store
            # in the session (so the history lives, and moves, with the session).
            body["session_id"] = request.conversation
            history = request.history
            if history is None:
                history = conversation_history(client, request.conversation)
            if history:
                body["conversation_history"] = [
                    {"role": role, "content": content} for role, content in history
                ]
        try:
            response = client.post("/v1/runs", json=body)
        except httpx.HTTPError as exc:
            raise RuntimeFailure(f"Hermes did not accept the run: {exc}") from exc
        if response.status_code not in (200, 201, 202):
            raise RuntimeFailure(
                f"Hermes refused the run: HTTP {response.status_code} {response.text[:200]}"
            )
        self.runtime_run_id = str(response.json()["run_id"])

    def events(self) -> Iterator[AgentEvent]:
        url = f"/v1/runs/{self.runtime_run_id}/events"
        timeout = httpx.Timeout(self._timeout, connect=5.0)
        finished = False
        try:
            with self._client.stream("GET", url, timeout=timeout) as response:
                if response.status_code != 200:
                    raise RuntimeFailure(f"Hermes event stream: HTTP {response.status_code}")
                for payload in parse_sse(response.iter_lines()):
                    yield from translate(payload, self._context, model=self._model)
                    if payload.get("event") in TERMINAL:
                        finished = True
                        return
        except httpx.ReadTimeout:
            self.cancel()
            yield self._context.make(
                RunFailed,
                error=f"the turn produced no event for {self._timeout:.0f} s and was stopped",
                code="turn_timeout",
            )
            return
        except httpx.HTTPError as exc:
            yield self._context.make(
                RunFailed, error=f"lost the runtime's event stream: {exc}", code="runtime_lost"
            )
            return
        if not finished:
            yield self._context.make(
                RunFailed,
                error="the runtime ended the stream before the run finished",
                code="runtime_lost",
            )

    def respond_approval(self, choice: str) -> None:
        if choice not in APPROVAL_CHOICES:
            raise InputError(
                f"approval must be one of {', '.join(APPROVAL_CHOICES)}, not {choice!r}"
            )
        try:
            response = self._client.post(
                f"/v1/runs/{self.runtime_run_id}/approval", json={"choice": choice}
            )
        except httpx.HTTPError as exc:
            raise RuntimeFailure(f"could not answer the approval: {exc}") from exc
        if response.status_code >= 400:
            raise RuntimeFailure(f"Hermes refused the approval answer: HTTP {response.status_code}")

    def cancel(self) -> None:
        # The run may be gone already; the event stream tells the outcome either way.
        with contextlib.suppress(httpx.HTTPError):
            self._client.post(f"/v1/runs/{self.runtime_run_id}/stop", timeout=5.0)
