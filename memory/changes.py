"""Changes told in words no rule reads: a one-sentence statement that names a subject, the object of
its current functional fact, one other name and a word of change says that the other name took the
object's place.

"Renata Solis resigned from Greyfield Hospital and started at Oakhurst Clinic." after "Renata Solis
works at Greyfield Hospital." states ("Renata Solis", "works at", "Oakhurst Clinic"): the old fact's
relation with the new name. The extraction rules read many wordings of a change ("left A for B",
"has replaced A as CEO of B"); people use more ("lost the captaincy of X to B", "offloaded X to B",
"divorced A and went on to marry B"). This reads them from what the memory knows instead of from
their words: the sentence must name both ends of exactly one current functional fact and exactly one
other name, and the rules must not have read it already (a fact of the subject in that relation's group)
or read the new name as one of another kind (a place for a spouse).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from memory.extract import Extraction, Triple, normalize
from memory.facts import PLACES, Fact, normalize_relation, relation_group

CHANGE_WORDS = re.compile(
    r"\b(?:left|leaving|quit|resign(?:ed|s)?|retir(?:ed|es)|replac(?:ed|es)|succeed(?:ed|ing|s)|mov(?:ed|es|ing)|"
    r"relocat(?:ed|es|ing)|shift(?:ed|s)|transferr(?:ed|ing)|sold|sells|offload(?:ed|s)|hand(?:ed|s) over|"
    r"pass(?:ed|es) on|lost|loses|took over|takes over|new|now|former(?:ly)?|no longer|switch(?:ed|es)|swapp(?:ed|ing)|"
    r"divorc(?:ed|es)|remarried|split|parted|instead|appointed|elected|voted|signed|joined|started|gave up|"
    r"made way|walked away|packed up|let (?:\S+ ){1,4}go|in favou?r of|in charge)\b", re.IGNORECASE)
"""Words that tell a change: without one, a sentence that names a subject, its employer and a
colleague ("Renata Solis met Ana Ruiz at Greyfield Hospital") changes nothing."""

PLACE_GROUPS = frozenset({*PLACES, "birthplace", "death place", "capital", "country", "continent"})
"""Groups whose objects are places: a new name that the rules place ("A and B moved to Rome") is no
spouse of A, nor is a new employer a place."""

_SENTENCES = re.compile(r"[.!?]\s+\S")
"""A break between two sentences: a passage of several sentences is a document, not a statement."""


def _key(name: str) -> str:
    """A name's entity key without a leading article: "The Penrose Group" is the Penrose Group."""
    return re.sub(r"^the ", "", normalize(name))


def _within(a: str, b: str) -> bool:
    """One key's words run inside the other's: "oxley studio" and "oxley" name one thing."""
    return f" {a} " in f" {b} " or f" {b} " in f" {a} "


def told_change(text: str, extraction: Extraction, current: Callable[[str], Iterable[Fact]]) -> Triple | None:
    """The change ``text`` tells about a current functional fact (``current``: the current facts of
    an entity key), as the old fact's subject and relation with the new name; None when it tells none
    or could tell several."""
    if _SENTENCES.search(text.strip()) or not CHANGE_WORDS.search(text):
        return None
    names = {_key(e): e for e in extraction.entities if not any(c.isdigit() for c in e) and _key(e)}
    told = []
    for name in names.values():
        for fact in current(normalize(name)):
            subject, old = _key(fact.subject), _key(fact.object)
            if subject == _key(name) and old in names and fact.replaces is not False and relation_group(fact.rel):
                others = [n for k, n in names.items() if not (_within(k, subject) or _within(k, old))]
                if len(others) == 1:
                    told.append((fact, others[0]))
    if len(told) != 1:
        return None
    fact, new = told[0]
    group = relation_group(fact.rel)
    ends = (_key(fact.subject), _key(fact.object))
    for s, r, o in extraction.triples:
        said = relation_group(normalize_relation(r))
        if _key(s) == ends[0] and said == group:
            return None  # the rules read this change already ("left A for B": "joined" B)
        if said and _key(s) in ends and _key(o) == _key(new) and (said in PLACE_GROUPS) != (group in PLACE_GROUPS):
            return None  # the new name is of another kind: "Clara Voss and Henrik Dahl moved to Rome"
    return fact.subject, fact.relation, new
