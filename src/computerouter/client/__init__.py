"""The Python SDK: ``Client(base_url, api_key)`` over httpx, with the server's own error
classes (mapped back from each error's stable ``code``) and typed events and models.

    client = Client("http://127.0.0.1:8321", api_key="cr_key_...")
    client.agents.create("sb1", slug="support", model_settings={"compute_policy": "cost-aware"},
                         prompt="You are support.")
    for event in client.runs.stream("sb1/support", "hello"):
        ...
    client.compute.sessions.list("sb1", agent_slug="support")

``AsyncClient`` makes the same calls, awaited. Pass ``transport=httpx.MockTransport(...)`` (or
any httpx transport) to test without a server; ``retries`` retries only errors whose code is
retryable, with backoff.
"""

from computerouter.client.aio import AsyncClient
from computerouter.client.core import RetryPolicy
from computerouter.client.sync import Client

__all__ = ["AsyncClient", "Client", "RetryPolicy"]
