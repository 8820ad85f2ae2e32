"""Chat turned into tokens and back: shared by the HTTP routes and the in-process LangChain model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from serving.core.engine import Engine
from serving.core.errors import InvalidInputError
from serving.core.generation import Piece, SamplingParams, decode_stream

from serving.services.memory import MemoryService

GROUNDING_PROMPT = (
    "Answer using the passages below when they are relevant. "
    "If they do not contain the answer, answer from what you know.\n\n{passages}"
)


class ChatService:
    """Templating, grounding in the memory, length checks, and decoding under the read lock."""

    def __init__(self, engine: Engine, memory: MemoryService | None = None) -> None:
        self.engine = engine
        self.memory = memory

    def ground(
        self, messages: list[dict[str, str]], memory: bool | None, k: int
    ) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
        """Prepend passages retrieved for the latest user turn as a system message, with citations."""
        if memory is False or self.memory is None or self.memory.is_empty():
            return messages, []
        query = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        hits = self.memory.search(query, k) if query.strip() else []
        citations = [{"id": h["id"], "text": h["text"], "score": h["score"]} for h in hits]
        if not citations:
            return messages, []
        passages = "\n".join(f"[{i + 1}] {c['text']}" for i, c in enumerate(citations))
        grounding = {"role": "system", "content": GROUNDING_PROMPT.format(passages=passages)}
        if messages and messages[0]["role"] == "system":
            grounding["content"] = messages[0]["content"] + "\n\n" + grounding["content"]
            messages = messages[1:]
        return [grounding, *messages], citations

    def encode(self, text: str, max_tokens: int) -> list[int]:
        """Token ids of a raw prompt; the prompt plus ``max_tokens`` must fit the model's context."""
        host = self.engine.host
        ids = host.tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise InvalidInputError("the prompt is empty")
        limit = getattr(host.model.config, "max_position_embeddings", None)
        if limit is not None and len(ids) + max_tokens > limit:
            raise InvalidInputError(f"prompt ({len(ids)} tokens) plus max_tokens ({max_tokens}) exceeds the "
                                    f"model's context of {limit} tokens")
        return ids

    def chat_ids(
        self, messages: list[dict[str, str]], max_tokens: int, memory: bool | None = None, k: int = 3
    ) -> tuple[list[int], list[dict[str, Any]]]:
        """Token ids of the templated (and possibly grounded) conversation, and the citations used."""
        messages, citations = self.ground(messages, memory, k)
        try:
            prompt = self.engine.host.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        except Exception as exc:  # templates raise their own errors (e.g. on role order)
            raise InvalidInputError(f"the chat template rejects these messages: {exc}") from exc
        return self.encode(prompt, max_tokens), citations

    def pieces(self, ids: list[int], params: SamplingParams) -> Iterator[Piece]:
        """Decode under the read lock: a weight change waits until this generation is done."""
        host = self.engine.host
        with host.reading():
            yield from decode_stream(host.model, host.tokenizer, ids, params)
