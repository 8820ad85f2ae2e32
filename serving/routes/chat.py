"""OpenAI-compatible chat and legacy completions, grounded in the graph memory when it has content."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from ..deps import get_engine
from ..engine import Engine
from ..errors import ApiError
from ..generation import Piece, SamplingParams, decode_stream
from ..schemas import ChatCompletionRequest, CompletionRequest, usage

router = APIRouter()

GROUNDING_PROMPT = (
    "Answer using the passages below when they are relevant. "
    "If they do not contain the answer, answer from what you know.\n\n{passages}"
)


def _sampling(req: ChatCompletionRequest | CompletionRequest, max_tokens: int) -> SamplingParams:
    try:
        return SamplingParams(max_tokens=max_tokens, temperature=req.temperature, top_p=req.top_p,
                              stop=req.stop_list(), seed=req.seed)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc


def _ground(engine: Engine, req: ChatCompletionRequest) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Chat messages for the template, with retrieved passages prepended as a system message."""
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
    if req.memory is False or engine.grounding is None:
        return messages, []
    query = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    citations = engine.grounding(query, req.memory_k) if query.strip() else []
    if not citations:
        return messages, []
    passages = "\n".join(f"[{i + 1}] {c['text']}" for i, c in enumerate(citations))
    grounding = {"role": "system", "content": GROUNDING_PROMPT.format(passages=passages)}
    if messages[0]["role"] == "system":
        grounding["content"] = messages[0]["content"] + "\n\n" + grounding["content"]
        messages = messages[1:]
    return [grounding, *messages], citations


def _encode(engine: Engine, text: str, max_tokens: int) -> list[int]:
    ids = engine.host.tokenizer(text, add_special_tokens=False)["input_ids"]
    limit = getattr(engine.host.model.config, "max_position_embeddings", None)
    if limit is not None and len(ids) + max_tokens > limit:
        raise ApiError(400, f"prompt ({len(ids)} tokens) plus max_tokens ({max_tokens}) exceeds the "
                            f"model's context of {limit} tokens")
    if not ids:
        raise ApiError(400, "the prompt is empty")
    return ids


def _pieces(engine: Engine, ids: list[int], params: SamplingParams) -> Iterator[Piece]:
    """Decode under the read lock: a weight change waits until this generation is done."""
    with engine.host.reading():
        yield from decode_stream(engine.host.model, engine.host.tokenizer, ids, params)


def _sse(payload: dict[str, Any] | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


@router.post("/v1/chat/completions", response_model=None)
def chat_completions(req: ChatCompletionRequest, engine: Engine = Depends(get_engine)) -> dict | StreamingResponse:
    max_tokens = req.max_completion_tokens or req.max_tokens or 512
    params = _sampling(req, max_tokens)
    messages, citations = _ground(engine, req)
    try:
        prompt = engine.host.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    except Exception as exc:  # templates raise their own errors (e.g. role order)
        raise ApiError(400, f"the chat template rejects these messages: {exc}") from exc
    ids = _encode(engine, prompt, max_tokens)
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": engine.host.model_id}
    extra = {"palimpsest": {"citations": citations}} if citations else {}

    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)

        def events() -> Iterator[str]:
            chunk = {**base, "object": "chat.completion.chunk"}
            yield _sse({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                              "finish_reason": None}], **extra})
            done = 0
            for piece in _pieces(engine, ids, params):
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

    pieces = list(_pieces(engine, ids, params))
    return {
        **base,
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "".join(p.text for p in pieces)},
            "finish_reason": pieces[-1].finish_reason,
        }],
        "usage": usage(len(ids), pieces[-1].completion_tokens),
        **extra,
    }


@router.post("/v1/completions", response_model=None)
def completions(req: CompletionRequest, engine: Engine = Depends(get_engine)) -> dict | StreamingResponse:
    """Raw prompt, no chat template: how factual probes are asked."""
    params = _sampling(req, req.max_tokens)
    prompt = req.prompt_text()
    ids = _encode(engine, prompt, req.max_tokens)
    base = {"id": f"cmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": engine.host.model_id}
    prefix = prompt if req.echo else ""

    if req.stream:
        def events() -> Iterator[str]:
            chunk = {**base, "object": "text_completion"}
            if prefix:
                yield _sse({**chunk, "choices": [{"index": 0, "text": prefix, "finish_reason": None}]})
            for piece in _pieces(engine, ids, params):
                if piece.text or piece.finish_reason:
                    yield _sse({**chunk, "choices": [{"index": 0, "text": piece.text,
                                                      "finish_reason": piece.finish_reason}]})
            yield _sse("[DONE]")

        return StreamingResponse(events(), media_type="text/event-stream")

    pieces = list(_pieces(engine, ids, params))
    return {
        **base,
        "object": "text_completion",
        "choices": [{"index": 0, "text": prefix + "".join(p.text for p in pieces),
                     "finish_reason": pieces[-1].finish_reason, "logprobs": None}],
        "usage": usage(len(ids), pieces[-1].completion_tokens),
    }
