"""OpenAI-compatible chat and legacy completions, grounded in the graph memory when it has content."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from serving.core.decoding import Generation
from serving.core.errors import PalimpsestError
from serving.core.generation import Piece, SamplingParams

from ..deps import RuntimeDep
from ..errors import error_responses
from ..schemas import (
    STREAMED,
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionRequest,
    Completion,
    CompletionChoice,
    CompletionRequest,
    usage,
)

router = APIRouter(prefix="/v1", tags=["chat"], responses=error_responses(503))
"""Async handlers: decoding runs on the engine's decode workers, so no request thread ever holds or
waits for the model's lock (templating and retrieval run on the thread pool, outside any lock)."""


def _sse(payload: dict[str, Any] | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


async def _collect(generation: Generation, request: Request) -> list[Piece]:
    """Every piece of a non-streamed answer; the decode stops (or leaves the queue) within a step
    of the client going away."""

    async def watch() -> None:
        while not await request.is_disconnected():
            await asyncio.sleep(0.1)
        generation.cancel()

    watcher = asyncio.create_task(watch())
    try:
        pieces = [piece async for piece in generation]
    finally:
        watcher.cancel()
    return pieces or [Piece("", "stop")]  # empty: cancelled, and nobody reads the answer


@router.post("/chat/completions", response_model=None,
             responses={200: {"model": ChatCompletion, "content": STREAMED}})
async def chat_completions(req: ChatCompletionRequest, rt: RuntimeDep, request: Request) -> ChatCompletion | StreamingResponse:
    max_tokens = req.max_completion_tokens or req.max_tokens or min(512, rt.settings.max_tokens)
    params = SamplingParams(max_tokens, req.temperature, req.top_p, req.stop_list(), req.seed)
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
    ids, params, citations = await run_in_threadpool(rt.chat.chat_ids, messages, params, req.memory, req.memory_k)
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": rt.engine.host.model_id}
    extra = {"palimpsest": {"grounded": bool(citations), "citations": citations, "edits": params.edits}}
    generation = rt.chat.generate(ids, params)  # refused here (503) when the queue is full
    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return StreamingResponse(_chat_events(generation, len(ids), base, extra, include_usage),
                                 media_type="text/event-stream")
    decoded = await _collect(generation, request)
    return ChatCompletion(
        **base,
        choices=[ChatChoice(message=AssistantMessage(content="".join(p.text for p in decoded)),
                            finish_reason=decoded[-1].finish_reason)],
        usage=usage(len(ids), decoded[-1].completion_tokens),
        **extra,
    )


async def _chat_events(generation: Generation, prompt_tokens: int, base: dict[str, Any],
                       extra: dict[str, Any], include_usage: bool) -> AsyncIterator[str]:
    chunk = {**base, "object": "chat.completion.chunk"}
    try:  # a client that goes away closes this generator: the decode stops
        yield _sse({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                          "finish_reason": None}], **extra})
        done = 0
        async for piece in generation:
            done = piece.completion_tokens
            if piece.text:
                yield _sse({**chunk, "choices": [{"index": 0, "delta": {"content": piece.text}, "finish_reason": None}]})
            if piece.finish_reason:
                yield _sse({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": piece.finish_reason}]})
        if include_usage:
            yield _sse({**chunk, "choices": [], "usage": usage(prompt_tokens, done).model_dump()})
        yield _sse("[DONE]")
    except PalimpsestError as exc:  # after the 200: e.g. it waited past the timeout (503 before it)
        yield _sse({"error": {"message": exc.message, "type": "server_error"}})
    finally:
        generation.cancel()


@router.post("/completions", response_model=None, responses={200: {"model": Completion, "content": STREAMED}})
async def completions(req: CompletionRequest, rt: RuntimeDep, request: Request) -> Completion | StreamingResponse:
    """Raw prompt, no chat template: how factual probes are asked."""
    params = SamplingParams(req.max_tokens, req.temperature, req.top_p, req.stop_list(), req.seed)
    prompt = req.prompt_text()
    ids = await run_in_threadpool(rt.chat.encode, prompt, req.max_tokens)
    base = {"id": f"cmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": rt.engine.host.model_id}
    prefix = prompt if req.echo else ""
    generation = rt.chat.generate(ids, params)
    if req.stream:
        return StreamingResponse(_completion_events(generation, base, prefix), media_type="text/event-stream")
    decoded = await _collect(generation, request)
    return Completion(
        **base,
        choices=[CompletionChoice(text=prefix + "".join(p.text for p in decoded), finish_reason=decoded[-1].finish_reason)],
        usage=usage(len(ids), decoded[-1].completion_tokens),
    )


async def _completion_events(generation: Generation, base: dict[str, Any], prefix: str) -> AsyncIterator[str]:
    chunk = {**base, "object": "text_completion"}
    try:
        if prefix:
            yield _sse({**chunk, "choices": [{"index": 0, "text": prefix, "finish_reason": None}]})
        async for piece in generation:
            if piece.text or piece.finish_reason:
                yield _sse({**chunk, "choices": [{"index": 0, "text": piece.text, "finish_reason": piece.finish_reason}]})
        yield _sse("[DONE]")
    except PalimpsestError as exc:
        yield _sse({"error": {"message": exc.message, "type": "server_error"}})
    finally:
        generation.cancel()
