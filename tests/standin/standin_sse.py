"""Helpers shared by the stand-in tests: conversations and OpenAI-style SSE parsing."""

from __future__ import annotations

import json
from typing import Any

KEY = "sk-standin-test-0123456789"


def user(*texts: str) -> list[dict[str, Any]]:
    """A conversation alternating user and assistant turns, ending with the last user text."""
    messages: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        if i:
            messages.append({"role": "assistant", "content": "ok"})
        messages.append({"role": "user", "content": text})
    return messages


def sse_events(body: str) -> list[str]:
    """The data payloads of an SSE body, in order, as OpenAI clients split them."""
    events = []
    for block in body.split("\n\n"):
        data = [line[len("data: ") :] for line in block.split("\n") if line.startswith("data: ")]
        if data:
            events.append("\n".join(data))
    return events


def chunks(body: str) -> list[dict[str, Any]]:
    events = sse_events(body)
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]
