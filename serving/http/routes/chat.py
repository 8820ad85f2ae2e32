"""OpenAI-compatible chat and legacy completions, grounded in the graph memory when it has content."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from serving.core.decoding import Generation
from serving.core.generation import Piece, SamplingParams
from serving.services import Runtime

from ..deps import RuntimeDep
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

router = APIRouter(prefix="/v1", tags=["chat"])
"""Async handlers: decoding runs on the engine's decode workers, so no request thread ever holds or
waits for the model's lock (templating and retrieval run on the thread pool, outside any lock)."""


def _sse(payload: dict[str, Any] | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


async def _collect(generation: Generation, request: Request) -> list[Piece]:
    """Every piece of a non-streamed answer; the decode stops once the client has gone."""
    pieces = []
    async for piece in generation:
        pieces.append(piece)
        if await request.is_disconnected():
            generation.cancel()
            break
    return pieces


@router.post("/chat/completions", response_model=None,
             responses={200: {"model": ChatCompletion, "content": STREAMED}})
async def chat_completions(req: ChatCompletionRequest, rt: RuntimeDep, request: Request) -> ChatCompletion | StreamingResponse:
    max_tokens = req.max_completion_tokens or req.max_tokens or min(512, rt.settings.max_tokens)
    params = SamplingParams(max_tokens, req.temperature, req.top_p, req.stop_list(), req.seed)
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
    ids, params, citations = await run_in_threadpool(rt.chat.chat_ids, messages, params, req.memory, req.memory_k)
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": rt.engine.host.model_id}
    extra = {"palimpsest": {"grounded": bool(citations), "citations": citations}}
    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return StreamingResponse(_chat_events(rt, ids, params, base, extra, include_usage),
                                 media_type="text/event-stream")
    decoded = await _collect(rt.chat.generate(ids, params), request)
    return ChatCompletion(
        **base,
        choices=[ChatChoice(message=AssistantMessage(content="".join(p.text for p in decoded)),
                            finish_reason=decoded[-1].finish_reason)],
        usage=usage(len(ids), decoded[-1].completion_tokens),
        **extra,
    )


async def _chat_events(rt: Runtime, ids: list[int], params: SamplingParams, base: dict[str, Any],
                       extra: dict[str, Any], include_usage: bool) -> AsyncIterator[str]:
    chunk = {**base, "object": "chat.completion.chunk"}
    generation = rt.chat.generate(ids, params)
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
            yield _sse({**chunk, "choices": [], "usage": usage(len(ids), done).model_dump()})
        yield _sse("[DONE]")
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
    if req.stream:
        return StreamingResponse(_completion_events(rt, ids, params, base, prefix), media_type="text/event-stream")
    decoded = await _collect(rt.chat.generate(ids, params), request)
    return Completion(
        **base,
        choices=[CompletionChoice(text=prefix + "".join(p.text for p in decoded), finish_reason=decoded[-1].finish_reason)],
        usage=usage(len(ids), decoded[-1].completion_tokens),
    )


async def _completion_events(rt: Runtime, ids: list[int], params: SamplingParams, base: dict[str, Any],
                             prefix: str) -> AsyncIterator[str]:
    chunk = {**base, "object": "text_completion"}
    generation = rt.chat.generate(ids, params)
    try:
        if prefix:
            yield _sse({**chunk, "choices": [{"index": 0, "text": prefix, "finish_reason": None}]})
        async for piece in generation:
            if piece.text or piece.finish_reason:
                yield _sse({**chunk, "choices": [{"index": 0, "text": piece.text, "finish_reason": piece.finish_reason}]})
        yield _sse("[DONE]")
    finally:
        generation.cancel()
