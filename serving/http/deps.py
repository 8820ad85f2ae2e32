"""FastAPI dependencies: the runtime, its engine, and the optional API key.

They are ``async`` so that they run on the event loop and never need a thread from the pool
(``/healthz`` has to answer while every pool thread is busy)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from serving.core.engine import Engine
from serving.services import Runtime

from .errors import ApiError


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_engine(request: Request) -> Engine:
    return request.app.state.runtime.engine


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
EngineDep = Annotated[Engine, Depends(get_engine)]


async def require_api_key(request: Request) -> None:
    """When ``PALIMPSEST_API_KEY`` is set, ``/v1/*`` needs ``Authorization: Bearer <key>``."""
    key = request.app.state.settings.api_key
    if not key or not request.url.path.startswith("/v1/"):
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), key):
        raise ApiError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'", "authentication_error")
