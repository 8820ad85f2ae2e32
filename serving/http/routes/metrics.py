"""``GET /metrics``: the server's counters in Prometheus' text format (behind the API key when set)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..deps import EngineDep

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(engine: EngineDep) -> Response:
    """Requests and errors by route, decode queue depth and batch size, time to first token, tokens
    per second, weight-change latency by kind, guard verdicts, memory size."""
    return Response(engine.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
