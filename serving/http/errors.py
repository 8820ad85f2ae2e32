"""Every error the API answers, in one table, in the shape ``{"error": {"message", "type"}}``.

422 comes only from the request schema (pydantic); the runtime's and the learning packages'
domain errors map to 400/404/409/413/503 here. Anything else is a bug and answers 500.
"""

from __future__ import annotations

from adapters import SkillConfigError, SkillDataError
from editing.request import EditRequestError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from memory.store import DocumentTooLargeError, MemoryInputError
from starlette.exceptions import HTTPException

from serving.core.errors import (
    ConflictError,
    InvalidInputError,
    InvalidSettingError,
    NotFoundError,
    PalimpsestError,
    UnavailableError,
)


class ApiError(Exception):
    """An error that only the HTTP layer knows (authentication)."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.type = status, message, type


ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (DocumentTooLargeError, 413, "invalid_request_error"),
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


def error_response(status: int, message: str, type: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"message": message, "type": type}})


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, PalimpsestError) else str(exc)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.type)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _validation_message(exc), "invalid_request_error")

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), "invalid_request_error")

    for cls, status, kind in ERRORS:
        async def _domain(_: Request, exc: Exception, status: int = status, kind: str = kind) -> JSONResponse:
            return error_response(status, _message(exc), kind)

        app.add_exception_handler(cls, _domain)
