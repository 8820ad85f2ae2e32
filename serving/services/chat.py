"""Chat turned into tokens and back: shared by the HTTP routes and the in-process LangChain model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from typing import Any

from memory.facts import FactHit
from serving.core.decoding import Generation
from serving.core.engine import Engine
from serving.core.errors import InvalidInputError
from serving.core.generation import Guidance, Piece, SamplingParams, token_pieces

from serving.services.grounding import (
    Grounding,
    GroundingConfig,
    anchored_sources,
    answered_names,
    asks_about,
    chain,
    fact_sentence,
    fact_sources,
    grounded_messages,
    inverse_seeds,
    mentions,
    names,
    select_facts,
)
from serving.services.edits import EditService
from serving.services.excerpts import excerpt_passages
from serving.services.memory import MemoryService
from serving.services.substitution import Substitution, answer_substitution, asked_chain, chain_sources


class ChatService:
    """Templating, grounding in the memory, length checks, and decoding on the engine's decode workers."""

    def __init__(
        self, engine: Engine, memory: MemoryService | None = None, config: GroundingConfig | None = None,
        edits: EditService | None = None,
    ) -> None:
        self.engine = engine
        self.memory = memory
        self.config = config or GroundingConfig()
        self.edits = edits

    def retrieve(self, question: str, memory: bool | None, k: int) -> Grounding:
        """The facts (chained over the graph) and document passages for this question, past the gate.

        Stated facts are shown as facts, never as passages. ``memory=False``: nothing; ``True``: the
        best facts and passages even below the gate.
        """
        if memory is False or self.memory is None or self.memory.is_empty() or not question.strip():
            return Grounding()
        store, config = self.memory.store, self.config
        hits = store.search_facts(question, k=8)
        facts = hits[:k] if memory else select_facts(question, hits, config)
        # a fact about a subject the question names, below the gate because the question does not ask
        # its relation ("the director of Get Back" after "Get Back was performed by Madonna"), grounds
        # it when its chain goes on to a fact the question asks about
        named = [h for h in hits if names(question, h.subject)] if not facts and memory is None else []
        # else "Which company does Ana Brisk run?": a fact that ends at what the question names; also
        # before the facts chosen when none of them is asked about: "Who is the founder of X?" is
        # "A founded X", not "X moved its headquarters to B"
        unasked = memory is None and not any(asks_about(question, f.relation, f.subject) for f in facts)
        inverse = inverse_seeds(question, hits, config) if unasked else []
        facts = [] if inverse else facts
        vector = cache(lambda: store.embedder.encode([question])[0])  # for the chain and the excerpts
        if config.hops and (facts or named or inverse):

            def follow(seeds: list[FactHit], inverse: bool = False) -> list[FactHit]:
                return chain(seeds, store.facts_about,
                             lambda cands: store.embedder.encode([fact_sentence(f) for f in cands]) @ vector(),
                             config, question, inverse)

            facts = follow(facts) if facts else next((f for f in map(follow, ([h] for h in named)) if len(f) > 1), [])
            if not facts and inverse:
                facts = follow(inverse, inverse=True)
        elif inverse:
            facts = inverse
        passages: list[dict[str, Any]] = []
        best = max((p["score"] for p in store.dense_search(question, 2 * k) if "fact" not in p["metadata"]), default=None)
        if best is not None and (memory or best >= config.passage_min):
            passages = [p for p in store.search(question, 2 * k) if "fact" not in p["metadata"]][:k]
            if passages and not memory:
                passages = [p for p in passages if p["score"] >= config.passage_ratio * passages[0]["score"]]
                if ends := answered_names(facts, question):  # a shown fact answers: no other document's names
                    passages = [p for p in passages if any(names(p["text"], e) for e in ends)]
            passages = excerpt_passages(passages, vector(), store.embedder.encode, config.sentences)
        return Grounding(facts, passages)

    def ground(
        self, messages: list[dict[str, str]], memory: bool | None, k: int
    ) -> tuple[list[dict[str, str]], Grounding, list[dict[str, str]]]:
        """The conversation with grounding for its latest user turn, what it was grounded in (empty:
        ungrounded), and the same prompt with the facts and passages left out (the contrast of
        context-aware decoding: it differs from the grounded one only by what the memory adds)."""
        grounding = self.retrieve(_question(messages), memory, k)
        if not grounding or messages[-1]["role"] != "user":
            return messages, Grounding(), messages
        return (grounded_messages(messages, grounding, self.config), grounding,
                grounded_messages(messages, Grounding(), self.config))

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
        self, messages: list[dict[str, str]], params: SamplingParams, memory: bool | None = None, k: int = 3
    ) -> tuple[list[int], SamplingParams, list[dict[str, Any]]]:
        """Token ids of the templated (and possibly grounded) conversation, the sampling parameters
        to decode them with (grounded: with context-aware guidance against the ungrounded prompt),
        and the citations used. A conversation that names no edited subject and is grounded in no
        fact is decoded outside the weight edits (``SamplingParams.edits``), so its answer is the
        base model's."""
        grounded, grounding, plain = self.ground(messages, memory, k)
        ids = self.encode(self._template(grounded), params.max_tokens)
        subjects = self.edits.subjects if self.edits is not None and self.engine.settings.edit_scope else ()
        said = " ".join(m["content"] for m in messages)
        if subjects and not grounding.facts and not any(mentions(said, s) for s in subjects):
            params = replace(params, edits=False)
        if grounding and self.config.contrast > 0:
            plain = self.encode(self._template(plain), params.max_tokens)
            tokenizer = self.engine.host.tokenizer
            question = _question(messages)
            path = asked_chain(grounding.facts, question)
            anchored = (chain_sources(tokenizer, path, question)
                        + anchored_sources(tokenizer, grounding.facts, question)) if self.config.anchor else ()
            sub = (answer_substitution(tokenizer, grounding.facts, question, path) if self.config.substitute
                   else Substitution())
            end = tokenizer.eos_token_id if self.config.end and sub.answer else None
            params = replace(params, guidance=Guidance(plain, 1.0 + self.config.contrast, self.config.plausibility,
                                                       fact_sources(tokenizer, grounding.facts, question),
                                                       self.config.copy, anchored, **sub._asdict(), end=end,
                                                       pieces=token_pieces(tokenizer)))
        return ids, params, grounding.citations()

    def _template(self, messages: list[dict[str, str]]) -> str:
        try:
            return self.engine.host.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        except Exception as exc:  # templates raise their own errors (e.g. on role order)
            raise InvalidInputError(f"the chat template rejects these messages: {exc}") from exc

    def generate(self, ids: list[int], params: SamplingParams) -> Generation:
        """Start decoding on a decode worker, which holds the read lock (a weight change waits until
        this generation is done); read the pieces from the handle, with ``for`` or ``async for``."""
        return self.engine.decoder.submit(ids, params)

    def pieces(self, ids: list[int], params: SamplingParams) -> Iterator[Piece]:
        """The pieces of one decode, started on first use; leaving the loop early stops the decode."""
        yield from self.generate(ids, params)


def _question(messages: list[dict[str, str]]) -> str:
    """The latest user turn's text ("" when there is none)."""
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
