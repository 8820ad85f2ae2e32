"""FastAPI dependencies: the runtime and its engine (the API key is checked in ``middleware``).

They are ``async`` so that they run on the event loop and never need a thread from the pool
(``/healthz`` has to answer while every pool thread is busy)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serving.core.engine import Engine
from serving.services import Runtime


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_engine(request: Request) -> Engine:
    return request.app.state.runtime.engine


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
EngineDep = Annotated[Engine, Depends(get_engine)]

