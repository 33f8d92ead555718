"""Server-sent events as runtimes stream them: the JSON payloads of ``data:`` lines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["parse_sse"]


def parse_sse(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """JSON payloads of an SSE stream; comments and blank lines skipped, events joined."""
    buffer: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.startswith("data:"):
            buffer.append(line[5:].lstrip(" "))
            continue
        if line == "" and buffer:
            data = "\n".join(buffer)
            buffer = []
            if data == "[DONE]":
                continue
            try:
                payload = json.loads(data)
            except ValueError:
                continue
            if isinstance(payload, dict):
                yield payload
    if buffer:
        try:
            payload = json.loads("\n".join(buffer))
        except ValueError:
            return
        if isinstance(payload, dict):
            yield payload
