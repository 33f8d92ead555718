"""The stand-in playing the Concierge: the seed's three requests, and a destructive one.

When a system message names the Concierge (:data:`MARKER`), the last user message is read as
a request to the operator's MCP tools; the tool results that came back since then (in order)
say how far the plan got. Each reply is the next tool call of the plan, or, once it is done,
the answer in plain language. Requests it does not know get an answer saying so, which names
the stand-in. A pure function, like the rest of the script.

  "Create a Hermes agent that runs on the cheapest compute available." -> ``agents_create``
      with the ``cost-aware`` policy (sandbox ``agents`` unless "in sandbox S", slug
      ``hermes`` unless "called N")
  "Show me my active compute sessions." -> ``sessions_list``, then a line per session
  "Pause my Hermes agents on Daytona — keep Sprites running." -> ``sessions_list``, then
      ``sessions_suspend`` of each running session of that provider (of the Hermes runtime
      when the request says Hermes), one per reply; the rest are left as they are
  "Destroy session S." -> ``sessions_destroy``; refused for want of confirmation, the answer
      asks for it
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["MARKER", "concierge_reply", "is_concierge"]

MARKER = "You are the ComputeRouter Concierge"
TOOL = "mcp__computerouter__"
_LABEL = "(the computerouter stand-in model playing the Concierge)"

_CREATE = re.compile(r"\bcreate\b.*\bagent\b", re.IGNORECASE)
_LIST = re.compile(r"\b(show|list)\b.*\bsessions?\b", re.IGNORECASE)
_PAUSE = re.compile(r"\b(pause|suspend)\b.*?\bon\s+(?P<provider>[A-Za-z_][\w-]*)", re.IGNORECASE)
_DESTROY = re.compile(r"\bdestroy\b.*?\bsession\s+(?P<id>[A-Za-z0-9_-]+)", re.IGNORECASE)
_SANDBOX = re.compile(r"\bin sandbox\s+(?P<name>[A-Za-z0-9][\w.-]*)", re.IGNORECASE)
_CALLED = re.compile(r"\b(?:called|named)\s+(?P<name>[a-z0-9][a-z0-9-]*)", re.IGNORECASE)
_CHEAP = re.compile(r"\b(cheap\w*|cost\w*|low\w* price)\b", re.IGNORECASE)


def is_concierge(system_texts: Sequence[str]) -> bool:
    return any(MARKER in text for text in system_texts)


def _result(text: str) -> dict[str, Any]:
    """What one tool call returned, as JSON: Hermes hands an MCP result fenced as untrusted,
    with the tool's answer as ``structuredContent``; an error is its text."""
    try:
        found = json.loads(text[text.index("{") : text.rindex("}") + 1])
    except ValueError:
        return {"error": text.strip()}
    if not isinstance(found, dict):
        return {"error": text.strip()}
    inner = found.get("structuredContent")
    if isinstance(inner, dict):
        return inner
    if found.get("error") or found.get("isError"):
        return {"error": str(found.get("error") or found.get("content") or text)}
    return found


def _call(name: str, **arguments: Any) -> tuple[str, str]:
    return TOOL + name, json.dumps(arguments, sort_keys=True)


def _sessions(listed: dict[str, Any]) -> list[dict[str, Any]]:
    items = listed.get("items")
    return [s for s in items if isinstance(s, dict)] if isinstance(items, list) else []


def _line(session: dict[str, Any]) -> str:
    region = f" ({session.get('region')})" if session.get("region") else ""
    return (
        f"- {session.get('id')}: sandbox {session.get('sandbox_id')}, {session.get('runtime')}, "
        f"{session.get('state')} on {session.get('provider')}{region}"
    )


def _matches(provider: str, word: str) -> bool:
    word = word.lower()
    return word == provider or word in provider.split("_")


def concierge_reply(request: str, results: Sequence[str]) -> tuple[str, str] | str:
    """The next step for ``request`` given the tool ``results`` so far: a tool call
    ``(name, JSON arguments)``, or the final answer."""
    done = [_result(r) for r in results]
    if (match := _DESTROY.search(request)) is not None:
        if not done:
            return _call("sessions_destroy", session_id=match.group("id"))
        error = str(done[0].get("error", ""))
        if "confirmation_needed" in error:
            return (
                f"Destroying session {match.group('id')} would delete its workspace and the "
                "agent memory in it, so I did nothing. Say yes to go ahead (run the request "
                f"again with --yes). {_LABEL}"
            )
        if error:
            return f"I could not destroy session {match.group('id')}: {error} {_LABEL}"
        return f"Destroyed session {match.group('id')}. {_LABEL}"
    if (match := _PAUSE.search(request)) is not None:
        if not done:
            return _call("sessions_list")
        word = match.group("provider")
        hermes_only = "hermes" in request.lower()
        sessions = _sessions(done[0])
        targets = [
            s
            for s in sessions
            if _matches(str(s.get("provider", "")), word)
            and s.get("state") in ("running", "idle")
            and (not hermes_only or s.get("runtime") == "hermes")
        ]
        if len(done) - 1 < len(targets):
            return _call("sessions_suspend", session_id=targets[len(done) - 1]["id"])
        paused = [str(t["id"]) for t in targets]
        failed = [str(r.get("error")) for r in done[1:] if r.get("error")]
        kept = [_line(s) for s in sessions if str(s.get("id")) not in paused]
        said = f"Paused {len(paused)} session(s) on {word} by suspending them"
        said += f": {', '.join(paused)}." if paused else "."
        if failed:
            said += " Some failed: " + "; ".join(failed)
        if kept:
            said += " Left as they were:\n" + "\n".join(kept)
        return f"{said}\n{_LABEL}"
    if _LIST.search(request):
        if not done:
            return _call("sessions_list")
        if done[0].get("error"):
            return f"I could not list your sessions: {done[0]['error']} {_LABEL}"
        sessions = _sessions(done[0])
        if not sessions:
            return f"You have no active compute sessions. {_LABEL}"
        lines = "\n".join(_line(s) for s in sessions)
        return f"You have {len(sessions)} active compute session(s):\n{lines}\n{_LABEL}"
    if _CREATE.search(request):
        sandbox = _SANDBOX.search(request)
        called = _CALLED.search(request)
        where = {"compute_policy": "cost-aware"} if _CHEAP.search(request) else {}
        if not done:
            return _call(
                "agents_create",
                sandbox_id=sandbox.group("name") if sandbox else "agents",
                slug=called.group("name").lower() if called else "hermes",
                prompt="You are a helpful Hermes agent.",
                backend="hermes",
                **where,
            )
        made = done[0]
        if made.get("error"):
            return f"I could not create the agent: {made['error']} {_LABEL}"
        settings = made.get("model_settings") or {}
        runs_on = settings.get("compute_provider") or settings.get("compute_policy")
        return (
            f"Created agent {made.get('sandbox_id')}/{made.get('slug')} (backend "
            f"{settings.get('backend')}), placed by the {runs_on} policy: each new session "
            f"goes to the cheapest healthy provider. {_LABEL}"
            if settings.get("compute_policy") == "cost-aware"
            else f"Created agent {made.get('sandbox_id')}/{made.get('slug')}, on {runs_on}. "
            f"{_LABEL}"
        )
    return (
        "I can create agents, show your compute sessions, and pause (suspend) or destroy "
        f"them; I did not understand that request. {_LABEL}"
    )
