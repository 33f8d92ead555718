"""The HTTP API: REST for agents, runs, compute sessions, usage and credits; SSE event streams;
an OpenAI-compatible endpoint per agent (FastAPI on uvicorn).

Sync or async, decided once
---------------------------
The seams below (store, providers, runtimes, ledger) are synchronous, and stay so: one
implementation each, blocking I/O on a thread, as the CLI uses them. The API does not grow an
async twin of every seam. Instead, like httpx's ``BaseTransport``/``AsyncBaseTransport`` (one
model, two thin I/O shells), the line is drawn once, at the edge:

- every endpoint that touches the core is a plain ``def``: FastAPI runs it in its threadpool,
  so a slow database or provider call blocks one worker thread, never the event loop;
- a run's events come from a sync iterator (``AgentRun.events()``). One pump thread per run
  drains it into a :class:`~computerouter.api.live_runs.LiveRun` buffer; streaming endpoints
  are ``async def`` and await that buffer (woken with ``call_soon_threadsafe``), so a slow or
  idle SSE client holds no thread, several clients can watch one run, a reconnect resumes
  from ``Last-Event-ID``, and a run does not depend on any one client's connection.

The SDK (:mod:`computerouter.client`) mirrors it: one request/decode core, a sync client on
``httpx.Client`` and an async one on ``httpx.AsyncClient``.
"""

from computerouter.api.app import create_app

__all__ = ["create_app"]
