"""Counts every request for ``GET /metrics``: by method, route template and status, with its time.

A pure ASGI middleware (like ``middleware.RequestChecks``): it takes no pool thread. The route is
the template (``/v1/history/{entry_id}``), so ids do not make a series each; a streamed answer's
time is the time to its first byte.
"""

from __future__ import annotations

import time

from serving.core.metrics import Metrics

from .middleware import ASGIApp, Message, Receive, Scope, Send


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, seen = time.perf_counter(), []

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.append(message["status"])
                self._count(scope, message["status"], time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, record)
        except BaseException:
            if not seen:
                self._count(scope, 500, time.perf_counter() - started)
            raise

    @staticmethod
    def _count(scope: Scope, status: int, seconds: float) -> None:
        runtime = getattr(scope["app"].state, "runtime", None) if "app" in scope else None
        if runtime is None:
            return
        metrics: Metrics = runtime.engine.metrics
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        labels = (scope["method"], route, str(status))
        metrics.requests.labels(*labels).inc()
        if status >= 400:
            metrics.errors.labels(*labels).inc()
        metrics.request_seconds.labels(route).observe(seconds)
