"""Every error the API answers, in one table, in the shape ``{"error": {"message", "type"}}``.

422 comes from the request schema (pydantic) and from the regression guard (``type:
"regression_guard"``, with its reason, scores and the reverted entry); the runtime's and the
learning packages' domain errors map to 400/404/409/413/503 here. Anything else is a bug and
answers 500 with a ``request_id`` that the server log names too.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from adapters import SkillConfigError, SkillDataError
from editing.request import EditRequestError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from memory.store import DocumentTooLargeError, MemoryInputError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from serving.core.errors import (
    ConflictError,
    InvalidInputError,
    InvalidSettingError,
    NotFoundError,
    OverloadedError,
    PalimpsestError,
    RegressionGuardError,
    TooLargeError,
    UnavailableError,
)

log = logging.getLogger("palimpsest.http")


ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (DocumentTooLargeError, 413, "invalid_request_error"),
    (TooLargeError, 413, "invalid_request_error"),
    (RegressionGuardError, 422, "regression_guard"),
    (NotFoundError, 404, "not_found_error"),
    (ConflictError, 409, "conflict_error"),
    (UnavailableError, 503, "server_error"),
    (InvalidInputError, 400, "invalid_request_error"),
    (InvalidSettingError, 400, "invalid_request_error"),
    (EditRequestError, 400, "invalid_request_error"),
    (MemoryInputError, 400, "invalid_request_error"),
    (SkillDataError, 400, "invalid_request_error"),
    (SkillConfigError, 400, "invalid_request_error"),
)
"""Exception class -> (status, error type); an exception takes the row of the nearest class in its MRO."""


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    message: str
    type: str
    """``invalid_request_error``, ``authentication_error``, ``not_found_error``, ``conflict_error``,
    ``regression_guard`` (with ``reason``, ``scores`` and ``entry``) or ``server_error`` (with ``request_id``)."""


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a router: these statuses answer an :class:`ErrorResponse`."""
    return {status: {"model": ErrorResponse, "description": DESCRIPTIONS[status]} for status in statuses}


DESCRIPTIONS = {
    400: "The request cannot be used (bad value, bad Host header, lone surrogate in text)",
    401: "Missing or wrong API key",
    404: "No object has this id",
    409: "Clashes with the current state",
    413: "Over a configured limit (body size, items per request)",
    422: "Invalid request body, or a change the regression guard rejected and reverted",
    500: "A server bug; the body carries a request_id that the server log names too",
    503: "A part of the server this request needs is not running, or the server is busy (with Retry-After)",
}


def error_response(status: int, message: str, type: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"message": message, "type": type, **extra}},
                        headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, PalimpsestError) else str(exc)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _validation_message(exc), "invalid_request_error")

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return error_response(exc.status_code, str(exc.detail), kind, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = uuid.uuid4().hex
        log.error("request %s (%s %s) failed", request_id, request.method, request.url.path, exc_info=exc)
        return error_response(500, f"internal server error (request id {request_id})", "server_error",
                              request_id=request_id)

    for cls, status, kind in ERRORS:
        async def _domain(_: Request, exc: Exception, status: int = status, kind: str = kind) -> JSONResponse:
            extra = exc.details() if isinstance(exc, PalimpsestError) else {}
            headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, OverloadedError) else None
            return error_response(status, _message(exc), kind, headers=headers, **extra)

        app.add_exception_handler(cls, _domain)
