"""OpenAI chat-completion shapes for a scripted reply: the whole object, or the SSE chunks."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from computerouter.standin.script import LABEL, MODEL_ID, Message, Reply

FINGERPRINT = "computerouter-standin"

# JSON bodies are the one place where Any is honest: they are what the client sent.
Json = dict[str, Any]


def count_tokens(text: str) -> int:
    """A deterministic rough count: one token per four characters, at least one per word."""
    if not text:
        return 0
    return max(len(text.split()), math.ceil(len(text) / 4))


@dataclass(frozen=True, kw_only=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> Json:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


def usage(messages: Sequence[Message], answer: Reply) -> Usage:
    produced = answer.text if answer.tool_call is None else answer.tool_call.arguments
    return Usage(
        prompt_tokens=sum(count_tokens(m.text) for m in messages),
        completion_tokens=count_tokens(produced),
    )


def _tool_calls(answer: Reply) -> list[Json]:
    call = answer.tool_call
    if call is None:
        return []
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
    ]


def completion(ident: str, created: int, answer: Reply, spent: Usage) -> Json:
    """The non-streaming ``chat.completion`` object."""
    message: Json = {"role": "assistant", "content": answer.text or None}
    if answer.tool_call is not None:
        message["tool_calls"] = _tool_calls(answer)
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": MODEL_ID,
        "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason}],
        "usage": spent.to_json(),
    }


def _words(text: str) -> list[str]:
    # Split after each space so the deltas join back to exactly the text.
    pieces = text.split(" ")
    return [p + " " for p in pieces[:-1]] + [pieces[-1]] if text else []


def chunks(
    ident: str, created: int, answer: Reply, spent: Usage, *, include_usage: bool
) -> Iterator[Json]:
    """The ``chat.completion.chunk`` objects of a streamed reply, in order (no ``[DONE]``).

    First a role delta, then one content delta per word, or the tool call in two pieces (id and
    name, then the arguments) so clients exercise their accumulation; then the finish chunk,
    which carries ``usage`` when the client asked for it.
    """

    def chunk(delta: Json, finish_reason: str | None = None) -> Json:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL_ID,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    yield chunk({"role": "assistant", "content": ""})
    for word in _words(answer.text):
        yield chunk({"content": word})
    call = answer.tool_call
    if call is not None:
        head = {"index": 0, "id": call.id, "type": "function"}
        yield chunk({"tool_calls": [{**head, "function": {"name": call.name, "arguments": ""}}]})
        yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": call.arguments}}]})
    final = chunk({}, answer.finish_reason)
    if include_usage:
        final["usage"] = spent.to_json()
    yield final


def error(message: str, kind: str, code: str) -> Json:
    """An OpenAI-style error body, labeled as coming from the stand-in."""
    return {"error": {"message": f"{LABEL}: {message}", "type": kind, "code": code}}


CONTEXT_LENGTH = 131_072
"""The context window the stand-in reports for its model, as vLLM (``max_model_len``) and
OpenRouter (``context_length``) do: a client sizing its context (Hermes) reads it from
``/v1/models`` once instead of probing other endpoints on every turn."""


def models() -> Json:
    model = {
        "id": MODEL_ID,
        "object": "model",
        "created": 0,
        "owned_by": FINGERPRINT,
        "context_length": CONTEXT_LENGTH,
        "max_model_len": CONTEXT_LENGTH,
    }
    return {"object": "list", "data": [model]}


def sse(event: Json | str) -> bytes:
    data = event if isinstance(event, str) else json.dumps(event, separators=(",", ":"))
    return f"data: {data}\n\n".encode()
