"""OpenAI-compatible chat and legacy completions, grounded in the graph memory when it has content."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from serving.http.deps import get_engine
from serving.core.engine import Engine
from serving.services.chat import chat_ids, encode, pieces, sampling
from serving.http.schemas import ChatCompletionRequest, CompletionRequest, usage

router = APIRouter()


def _sse(payload: dict[str, Any] | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


@router.post("/v1/chat/completions", response_model=None)
def chat_completions(req: ChatCompletionRequest, engine: Engine = Depends(get_engine)) -> dict | StreamingResponse:
    max_tokens = req.max_completion_tokens or req.max_tokens or 512
    params = sampling(max_tokens, req.temperature, req.top_p, req.stop_list(), req.seed)
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
    ids, citations = chat_ids(engine, messages, max_tokens, req.memory, req.memory_k)
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": engine.host.model_id}
    extra = {"palimpsest": {"citations": citations}} if citations else {}

    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)

        def events() -> Iterator[str]:
            chunk = {**base, "object": "chat.completion.chunk"}
            yield _sse({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                              "finish_reason": None}], **extra})
            done = 0
            for piece in pieces(engine, ids, params):
                done = piece.completion_tokens
                if piece.text:
                    yield _sse({**chunk, "choices": [{"index": 0, "delta": {"content": piece.text},
                                                      "finish_reason": None}]})
                if piece.finish_reason:
                    yield _sse({**chunk, "choices": [{"index": 0, "delta": {},
                                                      "finish_reason": piece.finish_reason}]})
            if include_usage:
                yield _sse({**chunk, "choices": [], "usage": usage(len(ids), done)})
            yield _sse("[DONE]")

        return StreamingResponse(events(), media_type="text/event-stream")

    decoded = list(pieces(engine, ids, params))
    return {
        **base,
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "".join(p.text for p in decoded)},
            "finish_reason": decoded[-1].finish_reason,
        }],
        "usage": usage(len(ids), decoded[-1].completion_tokens),
        **extra,
    }


@router.post("/v1/completions", response_model=None)
def completions(req: CompletionRequest, engine: Engine = Depends(get_engine)) -> dict | StreamingResponse:
    """Raw prompt, no chat template: how factual probes are asked."""
    params = sampling(req.max_tokens, req.temperature, req.top_p, req.stop_list(), req.seed)
    prompt = req.prompt_text()
    ids = encode(engine, prompt, req.max_tokens)
    base = {"id": f"cmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": engine.host.model_id}
    prefix = prompt if req.echo else ""

    if req.stream:
        def events() -> Iterator[str]:
            chunk = {**base, "object": "text_completion"}
            if prefix:
                yield _sse({**chunk, "choices": [{"index": 0, "text": prefix, "finish_reason": None}]})
            for piece in pieces(engine, ids, params):
                if piece.text or piece.finish_reason:
                    yield _sse({**chunk, "choices": [{"index": 0, "text": piece.text,
                                                      "finish_reason": piece.finish_reason}]})
            yield _sse("[DONE]")

        return StreamingResponse(events(), media_type="text/event-stream")

    decoded = list(pieces(engine, ids, params))
    return {
        **base,
        "object": "text_completion",
        "choices": [{"index": 0, "text": prefix + "".join(p.text for p in decoded),
                     "finish_reason": decoded[-1].finish_reason, "logprobs": None}],
        "usage": usage(len(ids), decoded[-1].completion_tokens),
    }
