"""The FastAPI application: ``uvicorn serving.http.app:create_app --factory``."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from serving.http.deps import require_api_key
from serving.core.engine import Engine
from serving.http.errors import install_error_handlers
from serving.core.settings import Settings

ROUTE_MODULES: list[str] = [
    "serving.http.routes.health",
    "serving.http.routes.chat",
    "serving.http.routes.history",
    "serving.http.routes.jobs",
    "serving.http.routes.export",
    "serving.http.routes.memory",
    "serving.http.routes.edits",
    "serving.http.routes.skills",
    "serving.http.routes.updates",
]
"""Each module exposes ``router`` and optionally ``install(engine)``, called once at start-up."""


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app; the engine (the model) is loaded at start-up unless one is passed in."""
    settings = settings or (engine.settings if engine else Settings())
    modules = [importlib.import_module(name) for name in ROUTE_MODULES]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        app.state.engine = engine or Engine.load(settings)
        for module in modules:
            if hasattr(module, "install"):
                module.install(app.state.engine)
        yield
        if engine is None:
            app.state.engine.close()

    app = FastAPI(title="Palimpsest", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    for module in modules:
        app.include_router(module.router, dependencies=[Depends(require_api_key)])
    return app
