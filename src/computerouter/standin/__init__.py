"""The model stand-in: a small OpenAI-compatible server that is not a real model.

It answers from a fixed script, so the offline demo and the tests can run Hermes end to end
without a model. Everything it returns says so: the model id is ``standin-model``, each
completion carries ``system_fingerprint: "computerouter-standin"``, each response the header
``X-Computerouter-Standin: true``, and its default reply names the stand-in.

Endpoints:
  GET  /health               no key needed
  GET  /v1/models            one model, ``standin-model``
  POST /v1/chat/completions  streaming (SSE, ``data: [DONE]`` last) or not; ``usage`` on every
                             completion, and on the finish chunk when
                             ``stream_options.include_usage`` is set
  anything else              404 (Hermes probes /api/v1/models, /api/tags, /v1/props, /props
                             and /version before its first turn; 404 is what it expects)
With an API key configured, /v1 calls without ``Authorization: Bearer <key>`` get 401.

The reply depends on the conversation, checked in this order (trigger words are upper case,
whole words, looked for in the LAST user message only):
  Concierge       a system message containing "You are the ComputeRouter Concierge" -> the
                  next step of the request (see ``concierge.py``): a call of an operator tool,
                  or the answer once the tool results are in
  judge request   a system message containing "security reviewer" or "APPROVE, DENY, or
                  ESCALATE" (Hermes's smart-approval check) -> exactly one word, ESCALATE
                  unless configured otherwise, so the approval goes to the user
  tool result     the last message has role "tool" -> ``TOOL_DONE: <tool content>``
  SLOW            wait ``slow_seconds`` (default 15 s) first, then go on down this list
  FAIL            HTTP 500
  RUN: <command>  a ``terminal`` tool call running <command> (the rest of that line)
  MCP: <tool> {args}
                  a call of the MCP tool ``mcp__computerouter__<tool>`` (the router's MCP host
                  as Hermes names it; a name already starting ``mcp__`` is called as it is)
                  with the JSON object {args} (none: ``{}``)
  DANGER          a ``terminal`` tool call ``rm -rf standin-danger-zone``: Hermes flags it as
                  a recursive delete and asks for approval; approved, it deletes nothing
  USE_TOOL        a ``terminal`` tool call ``echo hello-from-tool``
  recall          "what do you remember" / "what is my name" -> ``I remember: <facts>.``, the
                  facts being what earlier user messages said after "my name is" or
                  "remember (that)" -- the proof that a turn sees the turns before it
  otherwise       ``Hello from the computerouter stand-in model. This is turn <n> of our
                  conversation.`` where n counts the user messages received

Use it in-process (``with StandinModel() as model: model.base_url``) or as a process:
``python -m computerouter.standin --port N [--api-key K]`` prints its base URL on one line.
"""

from computerouter.standin.script import MODEL_ID, Verdict
from computerouter.standin.server import StandinModel

__all__ = ["MODEL_ID", "StandinModel", "Verdict"]
