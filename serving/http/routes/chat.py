"""OpenAI-compatible chat and legacy completions, grounded in the graph memory when it has content."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from serving.core.generation import SamplingParams
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


def _sse(payload: dict[str, Any] | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


@router.post("/chat/completions", response_model=None,
             responses={200: {"model": ChatCompletion, "content": STREAMED}})
def chat_completions(req: ChatCompletionRequest, rt: RuntimeDep) -> ChatCompletion | StreamingResponse:
    max_tokens = req.max_completion_tokens or req.max_tokens or 512
    params = SamplingParams(max_tokens, req.temperature, req.top_p, req.stop_list(), req.seed)
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
    ids, citations = rt.chat.chat_ids(messages, max_tokens, req.memory, req.memory_k)
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": rt.engine.host.model_id}
    extra = {"palimpsest": {"grounded": bool(citations), "citations": citations}}
    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return StreamingResponse(_chat_events(rt, ids, params, base, extra, include_usage),
                                 media_type="text/event-stream")
    decoded = list(rt.chat.pieces(ids, params))
    return ChatCompletion(
        **base,
        choices=[ChatChoice(message=AssistantMessage(content="".join(p.text for p in decoded)),
                            finish_reason=decoded[-1].finish_reason)],
        usage=usage(len(ids), decoded[-1].completion_tokens),
        **extra,
    )


def _chat_events(rt: Runtime, ids: list[int], params: SamplingParams, base: dict[str, Any],
                 extra: dict[str, Any], include_usage: bool) -> Iterator[str]:
    chunk = {**base, "object": "chat.completion.chunk"}
    yield _sse({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                      "finish_reason": None}], **extra})
    done = 0
    for piece in rt.chat.pieces(ids, params):
        done = piece.completion_tokens
        if piece.text:
            yield _sse({**chunk, "choices": [{"index": 0, "delta": {"content": piece.text}, "finish_reason": None}]})
        if piece.finish_reason:
            yield _sse({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": piece.finish_reason}]})
    if include_usage:
        yield _sse({**chunk, "choices": [], "usage": usage(len(ids), done).model_dump()})
    yield _sse("[DONE]")


@router.post("/completions", response_model=None, responses={200: {"model": Completion, "content": STREAMED}})
def completions(req: CompletionRequest, rt: RuntimeDep) -> Completion | StreamingResponse:
    """Raw prompt, no chat template: how factual probes are asked."""
    params = SamplingParams(req.max_tokens, req.temperature, req.top_p, req.stop_list(), req.seed)
    prompt = req.prompt_text()
    ids = rt.chat.encode(prompt, req.max_tokens)
    base = {"id": f"cmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": rt.engine.host.model_id}
    prefix = prompt if req.echo else ""
    if req.stream:
        return StreamingResponse(_completion_events(rt, ids, params, base, prefix), media_type="text/event-stream")
    decoded = list(rt.chat.pieces(ids, params))
    return Completion(
        **base,
        choices=[CompletionChoice(text=prefix + "".join(p.text for p in decoded), finish_reason=decoded[-1].finish_reason)],
        usage=usage(len(ids), decoded[-1].completion_tokens),
    )


def _completion_events(rt: Runtime, ids: list[int], params: SamplingParams, base: dict[str, Any],
                       prefix: str) -> Iterator[str]:
    chunk = {**base, "object": "text_completion"}
    if prefix:
        yield _sse({**chunk, "choices": [{"index": 0, "text": prefix, "finish_reason": None}]})
    for piece in rt.chat.pieces(ids, params):
        if piece.text or piece.finish_reason:
            yield _sse({**chunk, "choices": [{"index": 0, "text": piece.text, "finish_reason": piece.finish_reason}]})
    yield _sse("[DONE]")
