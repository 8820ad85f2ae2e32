"""Answer substitution and chain closing: what a grounded answer is steered to when the shown facts
chain a subject the question names to the one object it asks for (``serving.core.generation.Guidance``:
``answer``, ``foreign``, ``closing``, ``chain_subjects``, ``subject``, ``verbs``)."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

import torch

from memory.facts import FactHit
from serving.core.generation import name_starts, sentence_breaks
from serving.services.grounding import (
    AUXILIARIES,
    asks_about,
    covers,
    fact_sentence,
    inverse_entry,
    inverse_wording,
    names,
    split_ids,
)
from serving.services.routing import VERBS


def asked_chain(facts: list[FactHit], question: str) -> list[FactHit]:
    """The facts from a subject the question names to the one object it asks for, in order (each
    fact's subject the object of the one before; the last one's relation asked about, its object no
    shown fact's subject); empty when there is none, several with different objects, or the question
    asks for a relation none of the facts has (a hop the memory does not hold). The chain may also
    enter through an inverse link (``inverse_entry``): "Who founded the company that Ana Brisk runs?"
    goes from "Kestrel Works's chief executive is Ana Brisk" to "Kestrel Works was founded by Edda Varr"."""
    if not covers(facts, question):
        return []
    subjects = {f.subject.lower() for f in facts}
    by_object = {f.object.lower(): f for f in facts}
    found: dict[str, list[FactHit]] = {}
    for fact in facts:
        if fact.object.lower() in subjects or not asks_about(question, fact.relation, fact.subject) \
                or inverse_entry(fact, question):
            continue
        path = [fact]
        while not names(question, path[0].subject) and path[0].subject.lower() in by_object:
            link = by_object[path[0].subject.lower()]
            if link in path:
                break
            path.insert(0, link)
        if not names(question, path[0].subject):
            entry = next((f for f in facts if f not in path and f.subject.lower() == path[0].subject.lower()
                          and inverse_entry(f, question)), None)
            path = [entry, *path] if entry else path
        if names(question, path[0].subject) or inverse_entry(path[0], question):
            found.setdefault(fact.object.lower(), path)
    return next(iter(found.values())) if len(found) == 1 else []


class Substitution(NamedTuple):
    """The ``Guidance`` fields of answer substitution and chain closing for one question."""

    answer: tuple[int, ...] = ()
    foreign: torch.Tensor | None = None
    breaks: torch.Tensor | None = None
    closing: tuple[int, ...] = ()
    chain_subjects: tuple[tuple[int, ...], ...] = ()
    subject: tuple[int, ...] = ()
    verbs: torch.Tensor | None = None
    answer_start: tuple[int, ...] = ()


@functools.lru_cache(maxsize=4)
def verb_tokens(tokenizer) -> torch.Tensor:
    """Per token id: whether the token is a verb of a statement ("is", " was", " lives", " plays")."""
    words = AUXILIARIES | VERBS
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return torch.tensor([p.lstrip("Ġ▁").lower() in words for p in pieces])


def answer_substitution(tokenizer, facts: list[FactHit], question: str, path: list[FactHit]) -> Substitution:
    """For a question over the shown facts and their asked chain ``path`` (:func:`asked_chain`): the
    asked object's token ids after a space; the capitalised word starts that neither the question
    nor a fact of the chain holds (nor " I"; "Danish" of "is a Danish film directed by" is held): an
    object of a shown fact off the chain ("from Ravensholt" for the employer's city) is foreign too;
    the sentence breaks; the chain's last fact's sentence (after a space: a closing goes on with the
    answer, not the links between) and the token ids of the chain's subjects; the chain's first
    subject; the verb tokens; and the object's token ids at an answer's start. Empty when no single
    object is asked for."""
    if not path:
        return Substitution()

    def ids(text: str) -> tuple[int, ...]:
        return tuple(tokenizer(" " + text, add_special_tokens=False)["input_ids"])

    foreign = name_starts(tokenizer).clone()
    texts = [question, "I"] + [part for f in path for part in (f.subject, f.relation, f.object)]
    for word in {w for text in texts for w in re.findall(r"[^\s,;()]+", text)}:
        first = ids(word)[:1]
        if first and first[0] < len(foreign):
            foreign[first[0]] = False
    return Substitution(ids(path[-1].object), foreign, sentence_breaks(tokenizer), ids(fact_sentence(path[-1])),
                        tuple(ids(f.subject) for f in path), ids(path[0].subject), verb_tokens(tokenizer),
                        tuple(tokenizer(path[-1].object, add_special_tokens=False)["input_ids"]))


def chain_sources(
    tokenizer, path: list[FactHit], question: str, longest: int = 3
) -> tuple[tuple[tuple[int, ...], int], ...]:
    """An anchored source (``Guidance.anchored``) for an answer that opens with the subject the
    question names when the asked chain ``path`` (:func:`asked_chain`) has 2 to ``longest`` links:
    the chain's sentences, one after another, through the subject at least. "Where was Ignatius
    Pell's wife born?" answered "Ignatius Pell" goes on "is married to Rosa Quent. Rosa Quent was
    born in Valdemora.", not "was born in Valdemora" (the spouse's birthplace given as his). An
    inverse entry is said from its object ("Ana Brisk is the chief executive of Kestrel Works.")."""
    if not 2 <= len(path) <= longest:
        return ()
    first = inverse_wording(path[0]) if inverse_entry(path[0], question) else None
    named = path[0].object if first else path[0].subject
    text = " ".join([first or fact_sentence(path[0]), *(fact_sentence(f) for f in path[1:])])
    if not text.startswith(named):
        return ()
    return (split_ids(tokenizer, "", text, len(named)),)
