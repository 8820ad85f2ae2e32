"""A small HTTP client for the CLI: the running server is the one writer of the history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from serving.core.settings import Settings


class ServerError(RuntimeError):
    """The server answered with an error (``status``, and ``error``: the body's ``error`` object,
    e.g. ``type: "regression_guard"`` with the reverted ``entry``), or could not be reached (status 0)."""

    def __init__(self, message: str, status: int = 0, error: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.error = status, error or {}


def _checked(response: httpx.Response) -> Any:
    """The decoded body, or :class:`ServerError` with the body's ``error`` object."""
    if response.is_error:
        try:
            error = response.json()["error"]
            message = error["message"]
        except (ValueError, KeyError, TypeError):
            error, message = {}, response.text
        raise ServerError(f"{response.status_code}: {message}", response.status_code, error)
    return response.json()


def _auth(api_key: str | None) -> dict[str, str]:
    key = api_key if api_key is not None else Settings().api_key
    return {"Authorization": f"Bearer {key}"} if key else {}


class Client:
    """``PALIMPSEST_URL`` (default ``http://PALIMPSEST_HOST:PALIMPSEST_PORT``) and ``PALIMPSEST_API_KEY``."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, timeout: float = 600.0) -> None:
        self.base_url = base_url or Settings().base_url
        self._http = httpx.Client(base_url=self.base_url, headers=_auth(api_key), timeout=timeout)

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return _checked(self._http.request(method, path, **kwargs))
        except httpx.TransportError as exc:
            raise ServerError(f"cannot reach the server at {self.base_url} ({exc}); is `palimpsest serve` running?") from exc

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._send("GET", path, params=params)

    def post(self, path: str, json: dict[str, Any] | None = None) -> Any:
        return self._send("POST", path, json=json or {})

    def delete(self, path: str) -> Any:
        return self._send("DELETE", path)

    def stream(self, path: str, json_body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Server-sent events of a streaming completion, decoded."""
        try:
            with self._http.stream("POST", path, json={**json_body, "stream": True}) as response:
                if response.is_error:
                    response.read()
                    _checked(response)
                for line in response.iter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        yield json.loads(line[len("data: "):])
        except httpx.TransportError as exc:
            raise ServerError(f"cannot reach the server at {self.base_url} ({exc})") from exc


class AsyncClient:
    """The same calls, awaited. ``transport`` answers them without a network: pass
    ``httpx.ASGITransport(create_app(...))`` to serve them from an app in this process.

    >>> async with AsyncClient("http://127.0.0.1:8000") as client:
    ...     entries = (await client.request("GET", "/v1/history", params={"limit": 5}))["data"]
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, timeout: float = 600.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url or Settings().base_url
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=_auth(api_key), timeout=timeout,
                                       transport=transport)

    async def request(self, method: str, path: str, json: dict[str, Any] | None = None,
                      params: dict[str, Any] | None = None) -> Any:
        try:
            return _checked(await self._http.request(method, path, json=json, params=params))
        except httpx.TransportError as exc:
            raise ServerError(f"cannot reach the server at {self.base_url} ({exc}); is `palimpsest serve` running?") from exc

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
