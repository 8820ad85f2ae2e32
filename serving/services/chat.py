"""Chat turned into tokens and back: shared by the HTTP route and the in-process LangChain model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from serving.core.engine import Engine
from serving.http.errors import ApiError
from serving.core.generation import Piece, SamplingParams, decode_stream

GROUNDING_PROMPT = (
    "Answer using the passages below when they are relevant. "
    "If they do not contain the answer, answer from what you know.\n\n{passages}"
)


def sampling(max_tokens: int, temperature: float, top_p: float, stop: list[str], seed: int | None) -> SamplingParams:
    try:
        return SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop, seed=seed)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc


def ground(
    engine: Engine, messages: list[dict[str, str]], memory: bool | None, k: int
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Prepend passages retrieved for the latest user turn as a system message, with citations."""
    if memory is False or engine.grounding is None:
        return messages, []
    query = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    citations = engine.grounding(query, k) if query.strip() else []
    if not citations:
        return messages, []
    passages = "\n".join(f"[{i + 1}] {c['text']}" for i, c in enumerate(citations))
    grounding = {"role": "system", "content": GROUNDING_PROMPT.format(passages=passages)}
    if messages and messages[0]["role"] == "system":
        grounding["content"] = messages[0]["content"] + "\n\n" + grounding["content"]
        messages = messages[1:]
    return [grounding, *messages], citations


def encode(engine: Engine, text: str, max_tokens: int) -> list[int]:
    ids = engine.host.tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ApiError(400, "the prompt is empty")
    limit = getattr(engine.host.model.config, "max_position_embeddings", None)
    if limit is not None and len(ids) + max_tokens > limit:
        raise ApiError(400, f"prompt ({len(ids)} tokens) plus max_tokens ({max_tokens}) exceeds the "
                            f"model's context of {limit} tokens")
    return ids


def chat_ids(
    engine: Engine, messages: list[dict[str, str]], max_tokens: int, memory: bool | None = None, k: int = 3
) -> tuple[list[int], list[dict[str, Any]]]:
    """Token ids of the templated (and possibly grounded) conversation, and the citations used."""
    messages, citations = ground(engine, messages, memory, k)
    try:
        prompt = engine.host.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    except Exception as exc:  # templates raise their own errors (e.g. on role order)
        raise ApiError(400, f"the chat template rejects these messages: {exc}") from exc
    return encode(engine, prompt, max_tokens), citations


def pieces(engine: Engine, ids: list[int], params: SamplingParams) -> Iterator[Piece]:
    """Decode under the read lock: a weight change waits until this generation is done."""
    with engine.host.reading():
        yield from decode_stream(engine.host.model, engine.host.tokenizer, ids, params)
