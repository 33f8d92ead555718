"""``GET /metrics``: Prometheus text format (admin keys: a scrape job sends one as a bearer)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from computerouter import metrics
from computerouter.api.deps import Admin, Server

__all__ = ["router"]

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def scrape(_admin: Admin, parts: Server) -> Response:
    """This server's metrics and the platform's, read from the store."""
    collector = metrics.StoreCollector(parts.agents.compute.store.engine)
    body = await run_in_threadpool(metrics.render, collector)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
