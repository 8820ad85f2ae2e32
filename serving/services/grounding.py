"""What grounding puts in front of the model, and when: the relevance gate, the facts chained over
the graph (multi-hop), and the prompt formats the ablation in ``bench/grounding_prompt.py`` compares.

A question is grounded only when the memory holds something about it:

    facts  = current facts whose subject the question names, with cosine(question, fact) >= fact_min,
             or any fact with cosine >= fact_alone, the best ``seeds`` of them
             (MiniLM cosines; thresholds set on MQuAKE-hard cases 0-199)
    chain  = from the last fact's object, the current fact about that object with the best cosine,
             up to ``hops`` more facts (MeLLo's chain, without the
             model's own decomposition)
    passages = the PageRank top-k, kept only when the best dense cosine reaches passage_min

Nothing passes: the question is answered as if the memory were empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from memory.facts import FactHit

Format = Literal["passages", "facts", "ike", "recall", "note"]

SYSTEM_FACTS = (
    "These facts are newer than your training and replace what you knew. "
    "When the question is about them, answer with them.\n{facts}"
)
PASSAGES = (
    "Answer using the passages below when they are relevant. "
    "If they do not contain the answer, answer from what you know.\n\n{passages}"
)
IKE_DEMOS: tuple[tuple[str, str, str], ...] = (
    ("The Eiffel Tower is located in the city of Rome.", "Where is the Eiffel Tower located?",
     "The Eiffel Tower is located in Rome."),
    ("Tim Cook works for Nintendo. Nintendo is headquartered in Oslo.",
     "In which city is the headquarters of the company Tim Cook works for?",
     "Tim Cook works for Nintendo, which is headquartered in Oslo."),
    ("The Danube flows into the Baltic Sea.", "What is the capital of Japan?", "The capital of Japan is Tokyo."),
)
"""In-context demonstrations (IKE): answer from a new fact over prior knowledge (copy), chain two
facts (multi-hop), and keep answering from knowledge when the fact is about something else (retain)."""


@dataclass
class GroundingConfig:
    format: Format = "ike"
    """How grounding is shown: facts and passages numbered in a system message (passages); facts in
    a system message that says they replace prior knowledge (facts); facts before the question with
    IKE demonstrations (ike); each fact as an earlier turn in which the assistant stated it (recall);
    or the facts as a note after the question (note). On MQuAKE-hard cases 0-9 (40 single-hop
    questions, SmolLM2-135M, one run) the answers named the new object 24, 23, 20, 21 times for
    passages, facts, ike, note (recall: 18 of 40 in an earlier run, where passages had 22). On an
    invented person whose employer changed, only ike named the new employer, so ike is the default:
    the updates a user makes are mostly about what the model does not know."""
    fact_min: float = 0.35
    """Cosine a fact needs when the question names its subject."""
    fact_alone: float = 0.85
    """Cosine a fact needs when the question does not name its subject."""
    passage_min: float = 0.45
    """Dense cosine the best passage needs for passages to be shown."""
    hops: int = 3
    """Most facts added by following objects to their own facts."""
    seeds: int = 2
    """Facts past the gate that are shown (best first) and followed."""
    max_facts: int = 6

    def __post_init__(self) -> None:
        if not (-1.0 <= self.fact_min <= self.fact_alone <= 1.0 and -1.0 <= self.passage_min <= 1.0):
            raise ValueError("need -1 <= fact_min <= fact_alone <= 1 and -1 <= passage_min <= 1")
        if self.hops < 0 or self.max_facts < 1 or self.seeds < 1:
            raise ValueError("hops must be >= 0, and max_facts and seeds >= 1")


@dataclass
class Grounding:
    """What a question is grounded in; empty when the gate found nothing."""

    facts: list[FactHit] = field(default_factory=list)
    passages: list[dict] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.facts or self.passages)

    def citations(self) -> list[dict]:
        facts = [{"type": "fact", "id": f.id, "text": fact_sentence(f), "score": round(f.score, 4),
                  "valid_from": f.valid_from} for f in self.facts]
        return facts + [{"type": "passage", "id": p["id"], "text": p["text"], "score": p["score"]} for p in self.passages]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def names(question: str, subject: str) -> bool:
    """The question names the subject: all its words, or all but one of three or more, in order-free match."""
    asked = set(_words(question))
    words = [w for w in _words(subject) if len(w) > 1] or _words(subject)
    missing = sum(w not in asked for w in words)
    return bool(words) and (missing == 0 or (len(words) >= 3 and missing == 1))


AUXILIARIES = frozenset("is was are were has had have be been being does did do will can".split())


def fact_sentence(fact: FactHit) -> str:
    """The fact as a plain sentence: "capital of" reads "The capital of S is O", "produced by" reads
    "S is produced by O", a relation with its own verb reads "S relation O"."""
    relation = fact.relation.strip()
    words = relation.lower().split()
    if words and words[0] not in AUXILIARIES and words[-1] == "of":
        text = f"The {relation} {fact.subject} is {fact.object}"
    elif words and words[0] not in AUXILIARIES and words[-1] == "by":
        text = f"{fact.subject} is {relation} {fact.object}"
    else:
        text = f"{fact.subject} {relation} {fact.object}".strip()
    return text if text.endswith(".") else text + "."


def select_facts(question: str, hits: list[FactHit], config: GroundingConfig) -> list[FactHit]:
    """The gate on facts: named subject and fact_min, or fact_alone; the best ``seeds`` of them."""
    passed = [h for h in hits
              if h.score >= config.fact_alone or (h.score >= config.fact_min and names(question, h.subject))]
    return sorted(passed, key=lambda h: -h.score)[: config.seeds]


def chain(seeds: list[FactHit], about, score, config: GroundingConfig) -> list[FactHit]:
    """Follow objects to their facts: ``about(entity) -> facts``, ``score(facts) -> cosines with the question``."""
    chosen = list(seeds)
    seen = {f.id for f in chosen}
    frontier = [f.object for f in seeds]
    for _ in range(config.hops):
        candidates = [f for entity in frontier for f in about(entity) if f.id not in seen]
        if not candidates:
            break
        cos = score(candidates)
        best = candidates[int(np.argmax(cos))]
        chosen.append(best)
        seen.add(best.id)
        frontier = [best.object]
        if len(chosen) >= config.max_facts:
            break
    return chosen[: config.max_facts]


def grounded_messages(
    messages: list[dict[str, str]], grounding: Grounding, config: GroundingConfig
) -> list[dict[str, str]]:
    """The conversation with the grounding put where ``config.format`` says."""
    facts = "\n".join(f"- {fact_sentence(f)}" for f in grounding.facts)
    passages = "\n".join(f"[{i + 1}] {p['text']}" for i, p in enumerate(grounding.passages))
    if config.format == "passages":
        texts = [fact_sentence(f) for f in grounding.facts] + [p["text"] for p in grounding.passages]
        return _with_system(messages, PASSAGES.format(passages="\n".join(f"[{i + 1}] {t}" for i, t in enumerate(texts))))
    if config.format == "facts":
        system = SYSTEM_FACTS.format(facts=facts) if facts else ""
        if passages:
            system = (system + "\n\n" if system else "") + PASSAGES.format(passages=passages)
        return _with_system(messages, system)
    if config.format == "recall":
        turns: list[dict[str, str]] = []
        for f in grounding.facts:
            turns += [{"role": "user", "content": f"What do you know about {f.subject}?"},
                      {"role": "assistant", "content": fact_sentence(f)}]
        *earlier, last = _with_system(messages, PASSAGES.format(passages=passages)) if passages else messages
        return [*earlier, *turns, last]
    if config.format == "note":
        *earlier, last = _with_system(messages, PASSAGES.format(passages=passages)) if passages else messages
        note = " ".join(fact_sentence(f) for f in grounding.facts)
        return [*earlier, {"role": last["role"], "content": f"{last['content']}\n(Updated facts: {note})" if note else last["content"]}]
    demos: list[dict[str, str]] = []
    for fact, question, answer in IKE_DEMOS:
        demos += [{"role": "user", "content": f"New facts: {fact}\nQuestion: {question}"},
                  {"role": "assistant", "content": answer}]
    context = " ".join(fact_sentence(f) for f in grounding.facts)
    if passages:
        context = (context + "\n" if context else "") + f"Passages:\n{passages}"
    *earlier, last = messages
    system = [m for m in earlier if m["role"] == "system"]
    rest = [m for m in earlier if m["role"] != "system"]
    asked = {"role": last["role"], "content": f"New facts: {context}\nQuestion: {last['content']}"}
    return [*system, *demos, *rest, asked]


def _with_system(messages: list[dict[str, str]], text: str) -> list[dict[str, str]]:
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": messages[0]["content"] + "\n\n" + text}, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]
