"""The FastAPI application: ``uvicorn serving.http.app:create_app --factory``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from serving.core.settings import Settings
from serving.services import Runtime

from .errors import error_responses, install_error_handlers
from .metrics import RequestMetrics
from .middleware import RequestChecks
from .routes import ROUTERS


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; the runtime (the model) is loaded at start-up unless one is passed in."""
    settings = settings or (runtime.settings if runtime else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        app.state.runtime = runtime or Runtime.load(settings)
        if runtime is None:  # a server of its own: key statistics now, not inside the first edit
            app.state.runtime.edits.prepare_in_background()
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        logging.getLogger("palimpsest.http").info("web console: http://%s:%d/console/", host, settings.port)
        yield
        if runtime is None:
            app.state.runtime.close()

    app = FastAPI(title="Palimpsest", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(RequestChecks, settings=settings)
    app.add_middleware(RequestMetrics)  # outside the checks: refused requests count too
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router, responses=error_responses(400, 401, 413, 422, 500))
    return app
