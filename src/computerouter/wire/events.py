"""Neutral AgentEvents on the wire: one JSON object per event, decoded back to the same class.

Over SSE each event is ``id: <seq>``, ``event: <type>``, ``data: <json>``; the ``id`` is the
event's per-run sequence number, so a client reconnecting with ``Last-Event-ID`` gets only
what it has not seen.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from computerouter.domain.events import EVENT_TYPES, AgentEvent
from computerouter.errors import InputError

__all__ = ["event_from_dict", "event_to_sse", "event_to_wire"]


def event_to_wire(event: AgentEvent) -> dict[str, Any]:
    data = event.to_dict()
    for key, value in data.items():
        if isinstance(value, tuple):
            data[key] = list(value)
    return data


def event_to_sse(event: AgentEvent, *, event_id: int) -> bytes:
    body = json.dumps(event_to_wire(event), separators=(",", ":"))
    return f"id: {event_id}\nevent: {event.type}\ndata: {body}\n\n".encode()


def event_from_dict(data: dict[str, Any]) -> AgentEvent:
    """The typed event for a wire object; unknown fields (from a newer server) are dropped."""
    cls = EVENT_TYPES.get(str(data.get("type")))
    if cls is None:
        raise InputError(f"unknown event type {data.get('type')!r}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in data:
            value = data[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)
