"""HTTP errors in the API's shape: ``{"error": {"message": str, "type": str}}``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from serving.core.history import AlreadyRevertedError, EntryNotFoundError
from serving.core.jobs import JobNotFoundError
from serving.core.model_host import UnknownParameterError


class ApiError(Exception):
    """Raised by a route for anything the caller got wrong."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.type = status, message, type


def error_response(status: int, message: str, type: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"message": message, "type": type}})


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


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

    @app.exception_handler(EntryNotFoundError)
    async def _no_entry(_: Request, exc: EntryNotFoundError) -> JSONResponse:
        return error_response(404, f"no history entry {exc.args[0]!r}", "not_found_error")

    @app.exception_handler(JobNotFoundError)
    async def _no_job(_: Request, exc: JobNotFoundError) -> JSONResponse:
        return error_response(404, f"no job {exc.args[0]!r}", "not_found_error")

    @app.exception_handler(AlreadyRevertedError)
    async def _reverted(_: Request, exc: AlreadyRevertedError) -> JSONResponse:
        return error_response(409, str(exc), "conflict_error")

    @app.exception_handler(UnknownParameterError)
    async def _bad_delta(_: Request, exc: UnknownParameterError) -> JSONResponse:
        return error_response(400, str(exc), "invalid_request_error")
