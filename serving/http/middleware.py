"""The checks every request passes before FastAPI parses it: Host, API key, body size, text.

A pure ASGI middleware, so a request it refuses is never parsed and never takes a pool thread:

- the ``Host`` header must be one of ``Settings.trusted_hosts()`` (against DNS rebinding), else 400;
- ``/v1/*`` and ``/metrics`` need ``Authorization: Bearer <key>`` when ``PALIMPSEST_API_KEY`` is
  set, else 401 (compared as bytes, in constant time; a non-ASCII header is just a wrong key);
- a body over ``max_body_bytes`` answers 413, by its ``Content-Length`` or by counting what arrives;
- a body that is not UTF-8, or JSON text with a lone UTF-16 surrogate (``"\\ud800"``), which
  neither the tokenizers nor the database can store, answers 400 (every route takes JSON).

It also makes the app's settings visible to the request schemas for the duration of the request
(:func:`request_settings`), so that their limits follow ``PALIMPSEST_*``.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

from starlette.responses import JSONResponse

from serving.core.settings import Settings

from .errors import error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_settings: ContextVar[Settings | None] = ContextVar("palimpsest_request_settings", default=None)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def request_settings() -> Settings | None:
    """The settings of the app serving the current request; None outside a request."""
    return _settings.get()


def protected(path: str) -> bool:
    """Paths that need the API key when one is set."""
    return path.startswith("/v1/") or path == "/metrics"


def host_name(header: str) -> str:
    """``example.com:8000`` -> ``example.com``; ``[::1]:8000`` -> ``::1``; lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def has_lone_surrogate(value: Any) -> bool:
    """Whether any string (or key) in decoded JSON holds a UTF-16 surrogate that is not part of a pair."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class RequestChecks:
    """``app.add_middleware(RequestChecks, settings=settings)``."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.hosts = settings.trusted_hosts()
        self.key = settings.api_key.encode() if settings.api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.lower(), value)
        refusal = self._refusal(scope, headers)
        body = b""
        if refusal is None:
            body, refusal = await self._read_body(receive)
        if refusal is not None:
            await refusal(scope, receive, send)
            return

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        token = _settings.set(self.settings)
        try:
            await self.app(scope, replay, send)
        finally:
            _settings.reset(token)

    def _refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> JSONResponse | None:
        if self.hosts is not None:
            host = host_name(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.hosts:
                return error_response(400, f"Host {host!r} is not served here; set PALIMPSEST_ALLOWED_HOSTS "
                                      "to serve it", "invalid_request_error")
        if self.key is not None and protected(scope["path"]):
            scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.key):
                return error_response(401, "missing or wrong API key: send 'Authorization: Bearer <key>'",
                                      "authentication_error", headers={"WWW-Authenticate": "Bearer"})
        length = headers.get(b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                return error_response(400, "Content-Length is not a number", "invalid_request_error")
            if int(length) > self.settings.max_body_bytes:
                return self._too_large()
        return None

    def _too_large(self) -> JSONResponse:
        return error_response(413, f"the request body is over {self.settings.max_body_bytes} bytes "
                              "(PALIMPSEST_MAX_BODY_BYTES); send less per request", "invalid_request_error")

    async def _read_body(self, receive: Receive) -> tuple[bytes, JSONResponse | None]:
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b"", None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.settings.max_body_bytes:
                return b"", self._too_large()
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return body, error_response(400, f"the body is not valid UTF-8 (byte {exc.start})", "invalid_request_error")
        if _SURROGATE_ESCAPE.search(body):
            try:
                decoded = json.loads(body)
            except (ValueError, RecursionError):
                return body, None  # FastAPI reports the malformed body
            if has_lone_surrogate(decoded):
                return body, error_response(400, "the text contains a lone UTF-16 surrogate (e.g. \\ud800), "
                                            "which is not a character; send valid Unicode", "invalid_request_error")
        return body, None
