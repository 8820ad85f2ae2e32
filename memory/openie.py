"""OpenIE with the hosted causal LM: named entities, then triples conditioned on them.

One-shot chat prompts in the manner of HippoRAG 2 (`prompts/templates/ner.py`,
`triple_extraction.py`), greedy decoding, JSON answers parsed with `json.loads` (never `eval`).
The result is merged with the deterministic `rule` extraction and grounded in the passage by the
store, so a small model's invented entities never reach the graph. Decoding is either this module's
padded `model.generate` batches or an injected `Generate` (the server's continuous batch).
"""

from __future__ import annotations

import contextlib
import json
import re
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, ContextManager

from memory.extract import Extraction, Progress, RuleExtractor, Tokenizer, Triple, ground, normalize
from memory.facts import normalize_relation, relation_group

_NER_SYSTEM = (
    "You extract named entities (people, places, organisations, works, dates, numbers) from a paragraph. "
    'Answer with JSON only, in the form {"named_entities": ["...", "..."]}.'
)
_NER_EXAMPLE = (
    "Paragraph:\nThe Kestrel Line is a narrow-gauge railway in Norland. It opened in 1911 and was built by "
    "the engineer Mara Quent to carry slate from Tollbury to the port of Westhaven."
)
_NER_ANSWER = '{"named_entities": ["Kestrel Line", "Norland", "1911", "Mara Quent", "Tollbury", "Westhaven"]}'

_TRIPLE_SYSTEM = (
    "You turn a paragraph into a knowledge graph: a list of [subject, relation, object] triples. "
    "Each triple should contain at least one, and preferably two, of the given named entities. "
    "Replace pronouns with the names they refer to. "
    'Answer with JSON only, in the form {"triples": [["subject", "relation", "object"], ...]}.'
)
_TRIPLE_ANSWER = json.dumps(
    {
        "triples": [
            ["Kestrel Line", "is", "narrow-gauge railway"],
            ["Kestrel Line", "located in", "Norland"],
            ["Kestrel Line", "opened in", "1911"],
            ["Kestrel Line", "built by", "Mara Quent"],
            ["Mara Quent", "is", "engineer"],
            ["Kestrel Line", "carries slate from", "Tollbury"],
            ["Kestrel Line", "carries slate to", "Westhaven"],
        ]
    }
)


Generate = Callable[[str, int], str]
"""The greedy answer to one chat-templated prompt text, at most ``max_new_tokens`` tokens long.
Called from several threads at once (one per passage in flight); the serving layer passes one that
submits to its continuous batch, so answers of different lengths leave and join independently."""


@dataclass
class LLMExtractorConfig:
    max_new_tokens_ner: int = 96
    """Token budget of the entity answer."""
    max_new_tokens_triples: int = 256
    """Token budget of the triple answer."""
    batch_size: int = 8
    """Passages decoded together: padded ``model.generate`` batches, or (with an injected
    ``generate``) passages in flight at once."""
    merge_rule: bool = True
    """Add the deterministic extraction so every passage keeps its entities."""

    def __post_init__(self) -> None:
        if min(self.max_new_tokens_ner, self.max_new_tokens_triples, self.batch_size) < 1:
            raise ValueError("token budgets and batch_size must be >= 1")


def parse_json_answer(text: str, field: str) -> list:
    """The list under `field` in the first JSON object of a model answer; [] if there is none."""
    for match in re.finditer(r"\{", text):
        try:
            obj, _ = json.JSONDecoder().raw_decode(text[match.start():])
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get(field), list):
            return obj[field]
    # a truncated answer: salvage complete inner lists / strings after the field name
    tail = text.split(f'"{field}"', 1)[-1]
    if field == "triples":
        items = re.findall(r"\[\s*(\"[^\"\]]*\"\s*(?:,\s*\"[^\"\]]*\"\s*)*)\]", tail)
        return [json.loads(f"[{item}]") for item in items]
    return re.findall(r"\"([^\"\n]{1,100})\"", tail.split("]", 1)[0])


def rules_win(guessed: list, ruled: list[Triple]) -> list:
    """The model's triples but those whose subject and relation a rule triple gives another object,
    and those relating two names that a rule triple relates with other words: the rules read the
    sentence, a small model pairs its words ("The Morrow Line opened in 1957" from "was opened in 1889
    and closed in 1957") and invents relations ("Port Calder located in Douarnenez" from "is twinned
    with"; "located in" from "is a foundry located in" stays). Relations compare by their first two
    normalised words ("set in" ~ "is set in the village of"), or by their functional group: "is owned
    by" the seller goes where the rules read "was bought by" the buyer."""
    def name(s: str) -> str:
        return re.sub(r"^the ", "", normalize(s))

    def key(s: str, r: str) -> tuple[str, str]:
        return name(s), " ".join(normalize_relation(r).split()[:2])

    said: dict[tuple[str, str], set[str]] = {}
    related: dict[frozenset[str], set[str]] = {}
    grouped: dict[tuple[str, str], set[str]] = {}
    for s, r, o in ruled:
        said.setdefault(key(s, r), set()).add(normalize(o))
        related.setdefault(frozenset((name(s), name(o))), set()).update(normalize(r).split())
        if group := relation_group(normalize_relation(r)):
            grouped.setdefault((name(s), group), set()).add(normalize(o))

    def contradicted(t) -> bool:
        if not (isinstance(t, (list, tuple)) and len(t) == 3 and all(isinstance(x, str) for x in t)):
            return False  # left to `sanitize`
        objects = said.get(key(t[0], t[1]))
        words = related.get(frozenset((name(t[0]), name(t[2]))))
        group = relation_group(normalize_relation(t[1]))
        held = grouped.get((name(t[0]), group)) if group else None
        return objects is not None and normalize(t[2]) not in objects or (
            words is not None and not set(normalize_relation(t[1]).split()) <= words) or (
            held is not None and normalize(t[2]) not in held)

    return [t for t in guessed if not contradicted(t)]


_COPULA = re.compile(r"(?:is|was|are|were)(?: (?:a|an|the))?")
"""A model triple's relation that says only what the subject is ("Port Calder", "is", "Fishing Town"): a
description, not a fact a question asks for; the rules read the nationality it may hold."""


def guessed_triples(answer: str) -> list[tuple]:
    """The triples of the model's JSON answer, but those whose relation is only a copula (``_COPULA``)."""
    return [tuple(t) for t in parse_json_answer(answer, "triples") if isinstance(t, list)
            and not (len(t) == 3 and isinstance(t[1], str) and _COPULA.fullmatch(normalize(t[1])))]


class LLMExtractor:
    """OpenIE with a transformers causal LM: an entity prompt, then a triple prompt, per passage.

    Without ``generate``, passages go through ``model.generate`` in padded batches of ``batch_size``
    (every row decodes until the batch's longest answer ends), with ``guard()`` held around each call.
    With ``generate`` (e.g. a continuous batch), ``batch_size`` passages run at once, each on its own
    thread: its triple prompt goes out as soon as its entities are back, so both stages share the batch.

    >>> extractor = LLMExtractor(model, tokenizer)
    >>> extractor.extract(["The Kestrel Line opened in 1911."])[0].triples
    """

    name = "llm"
    version = RuleExtractor.version
    """The merged rules' version: part of the extraction cache's key."""

    def __init__(
        self,
        model: Any,
        tokenizer: Tokenizer,
        config: LLMExtractorConfig | None = None,
        guard: Callable[[], ContextManager] | None = None,
        generate: Generate | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.config = config or LLMExtractorConfig()
        self.guard = guard or contextlib.nullcontext
        self.generate = generate
        self.rule = RuleExtractor()

    def extract(self, passages: list[str], progress: Progress | None = None) -> list[Extraction]:
        if self.generate is not None:
            return self._extract_streamed(passages, self.generate, progress)
        out: list[Extraction] = []
        step = self.config.batch_size
        for i in range(0, len(passages), step):
            out += self._batch(passages[i : i + step])
            if progress:
                progress(len(out))
        return out

    def _extract_streamed(self, passages: list[str], generate: Generate, progress: Progress | None) -> list[Extraction]:
        def one(passage: str) -> Extraction:
            entities = self._entities(passage, generate(self._ner_prompt(passage), self.config.max_new_tokens_ner))
            answer = generate(self._triple_prompt(passage, entities), self.config.max_new_tokens_triples)
            return self._extraction(passage, entities, answer)

        with ThreadPoolExecutor(self.config.batch_size, thread_name_prefix="palimpsest-openie") as pool:
            futures = [pool.submit(one, p) for p in passages]
            try:
                for done, _ in enumerate(as_completed(futures), 1):
                    if progress:
                        progress(done)
                return [f.result() for f in futures]
            finally:
                for f in futures:
                    f.cancel()

    def _batch(self, passages: list[str]) -> list[Extraction]:
        ner_answers = self._generate([self._ner_prompt(p) for p in passages], self.config.max_new_tokens_ner)
        entity_lists = [self._entities(p, a) for p, a in zip(passages, ner_answers)]
        triple_prompts = [self._triple_prompt(p, ents) for p, ents in zip(passages, entity_lists)]
        triple_answers = self._generate(triple_prompts, self.config.max_new_tokens_triples)
        return [self._extraction(p, ents, a) for p, ents, a in zip(passages, entity_lists, triple_answers)]

    def _ner_prompt(self, passage: str) -> str:
        return self._template([
            {"role": "system", "content": _NER_SYSTEM},
            {"role": "user", "content": _NER_EXAMPLE},
            {"role": "assistant", "content": _NER_ANSWER},
            {"role": "user", "content": f"Paragraph:\n{passage}"},
        ])

    def _triple_prompt(self, passage: str, entities: list[str]) -> str:
        return self._template([
            {"role": "system", "content": _TRIPLE_SYSTEM},
            {"role": "user", "content": f"{_NER_EXAMPLE}\n{_NER_ANSWER}"},
            {"role": "assistant", "content": _TRIPLE_ANSWER},
            {"role": "user", "content": f"Paragraph:\n{passage}\n{json.dumps({'named_entities': entities})}"},
        ])

    def _template(self, conversation: list[dict]) -> str:
        return self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)

    @staticmethod
    def _entities(passage: str, answer: str) -> list[str]:
        named = [e for e in parse_json_answer(answer, "named_entities") if isinstance(e, str)]
        return ground(Extraction(named), passage).entities

    def _extraction(self, passage: str, entities: list[str], answer: str) -> Extraction:
        triples = guessed_triples(answer)
        ex = Extraction(entities, triples)
        if self.config.merge_rule:
            rule = self.rule.extract([passage])[0]
            ex = Extraction(ex.entities + rule.entities, rules_win(ex.triples, rule.triples) + rule.triples)
        return ground(ex, passage)

    def _generate(self, texts: list[str], max_new_tokens: int) -> list[str]:
        import torch

        tok = self.tokenizer
        side, tok.padding_side = tok.padding_side, "left"
        try:
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            enc = tok(texts, return_tensors="pt", padding=True)
        finally:
            tok.padding_side = side
        with self.guard(), torch.no_grad():
            device = next(self.model.parameters()).device
            enc = {k: v.to(device) for k, v in enc.items()}
            out = self.model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
            )
        new = out[:, enc["input_ids"].shape[1]:]
        return tok.batch_decode(new, skip_special_tokens=True)
