"""``palimpsest mcp``: the graph memory, weight edits and history as MCP tools for agents.

Every tool is one call of the HTTP API (``../shared/API.md``), so an agent sees what any client
sees: the same validation, the same errors, and a history entry for every change, which
``revert`` undoes exactly. The calls go to a running server (``PALIMPSEST_URL``) or, without
one, to the same app served in this process (the model loads here; do not point it at the home
of a running server, which would then have two writers).

>>> async with connect(Settings()) as client:
...     server = build_server(client)
...     await server.run_stdio_async()
"""

from __future__ import annotations

import hmac
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, redirect_stdout
from typing import Annotated, Any, Literal
from urllib.parse import quote

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from serving.client import AsyncClient, ServerError
from serving.core.settings import Settings

log = logging.getLogger("palimpsest.mcp")

INSTRUCTIONS = """\
Palimpsest keeps a local language model up to date and makes every change undoable.
Search the memory before adding to it. Every tool that changes something returns a history entry;
`revert` with that entry's id undoes exactly that change and nothing else, and `list_history` shows
what was changed, newest first. `state` fingerprints the weights: equal fingerprints, identical weights."""

READS = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
ADDS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
UNDOES = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)

Subject = Annotated[str, Field(description="Who or what the fact is about, e.g. 'Ilse Varga'")]
Relation = Annotated[str, Field(description="The relation, as words, e.g. 'works for'")]
Object = Annotated[str, Field(description="The value, e.g. 'Ostrander Mills'")]
Replaces = Annotated[bool | None, Field(
    description="Supersede the subject's current object of this relation (default: decided by the relation)")]


@asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[AsyncClient]:
    """A client of the server at ``settings.url``, or of the app served in this process on a
    runtime loaded here (closed on exit)."""
    if settings.url:
        async with AsyncClient(settings.url, settings.api_key) as client:
            yield client
        return
    import anyio
    import httpx

    from serving.http.app import create_app
    from serving.services import Runtime

    def load() -> Runtime:
        with redirect_stdout(sys.stderr):  # stdout carries the protocol (the SDK diverts it once serving)
            return Runtime.load(settings)

    runtime = await anyio.to_thread.run_sync(load)
    try:
        # No network in between, so no Host to check against DNS rebinding.
        app = create_app(settings.model_copy(update={"allowed_hosts": "*"}), runtime)
        app.state.runtime = runtime  # the app's lifespan does this; ASGITransport runs no lifespan
        transport = httpx.ASGITransport(app=app)
        async with AsyncClient("http://localhost", settings.api_key, transport=transport) as client:
            yield client
    finally:
        runtime.close()


def build_server(client: AsyncClient) -> MCPServer:
    """The MCP server whose tools call ``client``."""
    server = MCPServer("palimpsest", instructions=INSTRUCTIONS)

    async def call(method: str, path: str, json: dict[str, Any] | None = None,
                   params: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return await client.request(method, path, json=json, params=params)
        except ServerError as exc:
            raise ToolError(str(exc)) from exc

    @server.tool(annotations=READS)
    async def search_memory(
        query: Annotated[str, Field(min_length=1, description="What to look for, in words")],
        k: Annotated[int, Field(ge=1, le=100, description="How many passages and facts")] = 5,
        as_of: Annotated[str | None, Field(description="ISO-8601 time: what the memory held then")] = None,
    ) -> dict[str, Any]:
        """Search the graph memory: passages (`results`) and facts (`facts`, with the time each holds
        from and, once superseded, the fact that replaced it), best first. Changes nothing."""
        params = {"q": query, "k": k, **({"as_of": as_of} if as_of else {})}
        return await call("GET", "/v1/memory/search", params=params)

    @server.tool(annotations=ADDS)
    async def add_document(
        text: Annotated[str, Field(min_length=1, description="The document: plain text or markdown")],
        document_id: Annotated[str | None, Field(description="A document id (default: one is made)")] = None,
        metadata: Annotated[dict[str, Any] | None, Field(
            description="Kept with its passages, e.g. {'source': ...}")] = None,
    ) -> dict[str, Any]:
        """Add a document to the graph memory: its passages, the entities they name and the facts
        they state; chat answers can then cite it. Changes the memory only, not the weights.
        Undo: `revert` with the returned `entry.id`."""
        document = {"text": text, "metadata": metadata or {}, **({"id": document_id} if document_id else {})}
        return await call("POST", "/v1/memory/documents", {"documents": [document]})

    @server.tool(annotations=ADDS)
    async def add_fact(
        subject: Subject, relation: Relation, object: Object, replaces: Replaces = None
    ) -> dict[str, Any]:
        """Store one fact (subject, relation, object) in the graph memory. A fact of a relation with
        one value at a time (works for, lives in, ...) supersedes the subject's current one, which
        stays searchable as superseded. Changes the memory only, not the weights.
        Undo: `revert` with the returned `entry.id` (a superseded fact becomes current again)."""
        body = {"facts": [{"subject": subject, "relation": relation, "object": object}], "replaces": replaces}
        return await call("POST", "/v1/memory/facts", body)

    @server.tool(annotations=ADDS)
    async def update(
        text: Annotated[str | None, Field(description="A document, or one stated fact ('X works for Y.')")] = None,
        subject: Annotated[str | None, Field(description="With relation and object: one fact")] = None,
        relation: Annotated[str | None, Field(description="With subject and object: one fact")] = None,
        object: Annotated[str | None, Field(description="With subject and relation: one fact")] = None,
        examples: Annotated[list[dict[str, str]] | None, Field(
            description="A skill to learn: [{'input': ..., 'output': ...}, ...], with name")] = None,
        name: Annotated[str | None, Field(description="The skill's name, with examples")] = None,
        instruction: Annotated[str | None, Field(description="The skill's instruction, with examples")] = None,
        route: Annotated[Literal["auto", "memory", "edit", "skill"], Field(
            description="Where it goes; auto: the router decides and says why")] = "auto",
        replaces: Replaces = None,
    ) -> dict[str, Any]:
        """Give Palimpsest one update and let its router decide how to learn it: a document goes to
        the memory; a fact goes to the memory, or into the weights by a weight edit (which also stores
        it in the memory) when the model states a different object; examples train a skill (a LoRA
        adapter) in the background. Give exactly one of text, subject+relation+object, or examples.
        Returns the `route`, the `reason` and the history `entry` (for a skill, a `job`; its entry
        appears in `list_history` when training ends). Undo: `revert` with the entry's id; for an
        edit this restores the weights bit for bit and drops the stored fact too."""
        body: dict[str, Any] = {"route": route, "replaces": replaces}
        if subject or relation or object:
            if not (subject and relation and object):
                raise ToolError("a fact needs subject, relation and object")
            body["fact"] = {"subject": subject, "relation": relation, "object": object}
        if text is not None:
            body["text"] = text
        if examples is not None:
            body.update(examples=examples, name=name, instruction=instruction)
        return await call("POST", "/v1/updates", body)

    @server.tool(annotations=ADDS)
    async def edit_fact(
        prompt: Annotated[str, Field(min_length=1, description=(
            "A sentence start that the new target completes and that contains the subject, "
            "e.g. 'The Eiffel Tower is located in the city of'"))],
        subject: Annotated[str, Field(min_length=1, description="The subject as written in the prompt")],
        target_new: Annotated[str, Field(min_length=1, description="The new completion, e.g. 'Rome'")],
        target_true: Annotated[str | None, Field(description="The completion it replaces, if known")] = None,
    ) -> dict[str, Any]:
        """Write one fact into the model's weights (a ROME rank-one edit), so the model states it
        without the memory. Returns the entry and p(target) before and after. The regression guard
        rejects and reverts an edit that harms unrelated answers; the error then says why.
        Changes the weights. Undo: `revert` with the returned `entry.id` (the weights come back bit for bit)."""
        body = {"prompt": prompt, "subject": subject, "target_new": target_new,
                **({"target_true": target_true} if target_true else {})}
        return await call("POST", "/v1/edits", body)

    @server.tool(annotations=READS)
    async def list_history(
        kind: Annotated[Literal["memory", "edit", "skill"] | None, Field(description="Only this kind")] = None,
        status: Annotated[Literal["pending", "applied", "reverted"] | None, Field(
            description="Only this status")] = None,
        limit: Annotated[int, Field(ge=1, le=10_000, description="At most this many entries")] = 20,
    ) -> dict[str, Any]:
        """The history of changes, newest first: each entry's id, kind (memory, edit, skill), status
        (applied, reverted), time, summary and details (the routing reason, the guard's verdict).
        Changes nothing."""
        params = {"limit": limit, **{k: v for k, v in (("kind", kind), ("status", status)) if v}}
        return await call("GET", "/v1/history", params=params)

    @server.tool(annotations=UNDOES)
    async def revert(
        entry_id: Annotated[str, Field(min_length=1, description="A history entry's id")],
    ) -> dict[str, Any]:
        """Undo one change, any one, not only the last: its memory ingest leaves the memory, its
        weight delta or skill adapter leaves the model; every other change stays applied. Returns the
        entry, now `reverted`. Cannot itself be undone: apply the change again instead."""
        return await call("POST", f"/v1/history/{quote(entry_id, safe='')}/revert")

    @server.tool(annotations=READS)
    async def state() -> dict[str, Any]:
        """The model's state: `fingerprint` (a hash of the current weights; equal fingerprints mean
        identical weights), `base_fingerprint`, the `applied` entry ids (oldest first) and the
        memory's size. Changes nothing."""
        weights = await call("GET", "/v1/state")
        return {**weights, "memory": await call("GET", "/v1/memory/stats")}

    return server


class BearerKey:
    """ASGI middleware: every HTTP request needs ``Authorization: Bearer <key>`` (else 401)."""

    def __init__(self, app: Any, key: str) -> None:
        self.app, self.expected = app, f"Bearer {key}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                from starlette.responses import JSONResponse

                body = {"error": {"message": "missing or wrong API key (PALIMPSEST_API_KEY)",
                                  "type": "authentication_error"}}
                await JSONResponse(body, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def serve(settings: Settings) -> None:
    """Serve the tools over ``settings.mcp_transport`` until the client goes (stdio) or Ctrl-C (HTTP)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per tool call otherwise
    async with connect(settings) as client:
        server = build_server(client)
        where = settings.url or f"a model loaded here ({settings.model})"
        if settings.mcp_transport == "stdio":
            log.info("MCP over stdio; the tools call %s", where)
            await server.run_stdio_async()
            return
        import uvicorn

        app: Any = server.streamable_http_app(host=settings.mcp_host)
        if settings.api_key:
            app = BearerKey(app, settings.api_key)
        log.info("MCP at http://%s:%d/mcp; the tools call %s", settings.mcp_host, settings.mcp_port, where)
        await uvicorn.Server(uvicorn.Config(app, host=settings.mcp_host, port=settings.mcp_port)).serve()
