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

A statement that names only the subject and the new name tells a change when the relation between them
names a post, a seat or a move and the subject holds one fact of that name's kind (`_new_holder`): "Ingrid
Sole is now on the payroll of Quintel Systems" after "… works at Harrow Analytics".

A successor named without what the role is of takes the old holder's one role of that kind (`_successor`):
"Sunita Rao won and replaced Colin Barr as mayor" after "The mayor of Hawkridge is Colin Barr".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from memory.extract import REPLACED_VERBS, Extraction, Triple, normalize
from memory.facts import CHANGES, PLACES, TIME, Fact, ended_group, normalize_relation, relation_group

CHANGE_WORDS = re.compile(
    r"\b(?:left|leav(?:e|es|ing)|quit(?:s|ting)?|resign(?:ed|s|ing)?|retir(?:e|ed|es|ing)|replac(?:e|ed|es|ing)|"
    r"succeed(?:ed|ing|s)?|mov(?:e|ed|es|ing)|relocat(?:e|ed|es|ing)|shift(?:ed|s|ing)?|transferr(?:ed|ing)|"
    r"sold|sell(?:s|ing)?|offload(?:ed|s|ing)?|hand(?:ed|s|ing)? over|pass(?:ed|es|ing) on|lost|los(?:e|es|ing)|"
    r"t(?:ook|akes?|aken|aking) over|new|now|former(?:ly)?|no longer|switch(?:ed|es|ing)?|swapp(?:ed|ing)|"
    r"divorc(?:ed|es|ing)|remarried|split|parted|instead|appoint(?:ed|s|ing)?|elect(?:ed|s|ing)?|voted|"
    r"sign(?:ed|s|ing)|join(?:ed|s|ing)|start(?:ed|s|ing)|g(?:ave|ives?|iving) up|made way|walked away|packed up|"
    r"let (?:\S+ ){1,4}go|in favou?r of|in charge|st(?:ood|ands?|anding|epped|eps?|epping) (?:down|aside)|"
    r"t(?:ook|akes?|aken|aking) (?:the )?(?:chair|helm|reins))\b", re.IGNORECASE)
"""Words that tell a change, in any tense ("is joining", "will replace him", "has agreed to sell"): without
one, a sentence that names a subject, its employer and a colleague ("Renata Solis met Ana Ruiz at Greyfield
Hospital") changes nothing."""

PLACE_GROUPS = frozenset({*PLACES, "birthplace", "death place", "capital", "country", "continent"})
"""Groups whose objects are places: a new name that the rules place ("A and B moved to Rome") is no
spouse of A, nor is a new employer a place."""

SLOT_WORDS = re.compile(
    r"\b(?:mov(?:e|ed|es|ing)|relocat\w*|shift\w*|switch\w*|transfer\w*|signed|joined|hired|payroll|staff|job|post|"
    r"role|contract|headquarters|head office|home|house|premises|offices|base|boss|helm|reins)\b", re.IGNORECASE)
"""Words of a relation that name a held post or seat or its change: "is now on the payroll of", "now
runs its business out of new headquarters in", "has moved house and now stands in"."""

FIXED_GROUPS = frozenset({"birthplace", "birth date", "death place", "death date", "continent"})
"""Functional groups whose object no later statement changes."""

HELD = frozenset({"chief executive", "head of state", "chair", "manager", "captain", "editor", "conductor",
                  "principal", "director", "head of government", "head coach"})
"""Groups of a role that one holder at a time holds in what it is of."""
_SUCCESSION = re.compile(rf"\s+(?:[a-z]+\s+and\s+)?(?:has\s+|had\s+)?(?:{REPLACED_VERBS})\s+")
"""The words between a successor and the holder replaced: "Sunita Rao (won and) replaced" Colin Barr."""
_AS_ROLE = re.compile(r"\s+as\s+(?:the\s+|its\s+|their\s+)?(?:new\s+)?([a-z]+(?:\s+[a-z]+)?)")
"""The role after the holder replaced: "as (the new) mayor", "as chief executive"."""

_KIND = re.compile(r"\b(in|into|of|with|for|by)\s*$", re.IGNORECASE)
"""The preposition a relation ends with: a place follows "in", none follows "of", "with", "for" or "by"."""

_SENTENCES = re.compile(r"[.!?]\s+\S")
"""A break between two sentences: a passage of several sentences is a document, not a statement."""


def _key(name: str) -> str:
    """A name's entity key without a leading article: "The Penrose Group" is the Penrose Group."""
    return re.sub(r"^the ", "", normalize(name))


def _group(relation: str) -> str | None:
    """The functional group of a relation as an extraction words it."""
    return relation_group(normalize_relation(relation))


def _within(a: str, b: str) -> bool:
    """One key's words run inside the other's: "oxley studio" and "oxley" name one thing."""
    return f" {a} " in f" {b} " or f" {b} " in f" {a} "


def told_change(text: str, extraction: Extraction, current: Callable[[str], Iterable[Fact]]) -> Triple | None:
    """The change ``text`` tells about a current functional fact (``current``: the current facts of
    an entity key), as the old fact's subject and relation with the new name; None when it tells none
    or could tell several."""
    names = {_key(e): e for e in extraction.entities
             if not any(c.isdigit() for c in e) and not TIME.fullmatch(e) and _key(e) and e in text}  # "in May"
    if successor := _successor(text, names, extraction, current):
        return successor
    if _SENTENCES.search(text.strip()):
        return None
    told = []
    for name in names.values() if CHANGE_WORDS.search(text) else ():
        for fact in current(normalize(name)):
            subject, old = _key(fact.subject), _key(fact.object)
            if subject == _key(name) and old in names and fact.replaces is not False and relation_group(fact.rel):
                others = [n for k, n in names.items() if not (_within(k, subject) or _within(k, old))]
                if len(others) == 1:
                    told.append((fact, others[0]))
    if not told:
        return _new_holder(names, extraction, current)
    if len(told) != 1:
        return None
    fact, new = told[0]
    group = relation_group(fact.rel)
    subject, old = _key(fact.subject), _key(fact.object)
    for s, r, o in extraction.triples:
        rel = normalize_relation(r)
        said = relation_group(rel)
        if _key(s) == subject and said == group:
            return None  # the rules read this change already ("left A for B": "joined" B)
        if said and (_key(s) == subject or _key(s) == old and CHANGES.fullmatch(rel)) and _key(o) == _key(new) \
                and (said in PLACE_GROUPS) != (group in PLACE_GROUPS):
            return None  # the new name is of another kind: "Clara Voss and Henrik Dahl moved to Rome"
    return fact.subject, fact.relation, new


def _successor(
    text: str, names: dict[str, str], extraction: Extraction, current: Callable[[str], Iterable[Fact]]
) -> Triple | None:
    """A role that passes from its holder to a successor, named without what it is of: "Sunita Rao won
    and replaced Colin Barr as mayor" after "The mayor of Hawkridge is Colin Barr" (the rules read "as
    mayor of Hawkridge" themselves). The old holder must hold one current fact of the role's group; a
    document may tell it in any sentence."""
    for new, old in ((a, b) for a in names.values() for b in names.values() if _key(a) != _key(b)):
        start = text.find(new)
        at = text.find(old, start + len(new))
        if start < 0 or at < 0 or not _SUCCESSION.fullmatch(text, start + len(new), at):
            continue
        role = _AS_ROLE.match(text, at + len(old))
        words = role[1].split() if role else []
        group = next((g for n in (2, 1) if len(words) >= n and (g := _group(f"{' '.join(words[:n])} of")) in HELD),
                     None)
        held = [f for f in current(normalize(old)) if _key(f.object) == _key(old) and relation_group(f.rel) == group]
        if group is None or len(held) != 1 or any(_group(r) == group for _, r, _ in extraction.triples):
            return None  # no role, or no one fact of it, or the rules read whose role it is
        return held[0].subject, held[0].relation, new
    return None


def _new_holder(
    names: dict[str, str], extraction: Extraction, current: Callable[[str], Iterable[Fact]]
) -> Triple | None:
    """The change a statement tells without naming the old object: "Brindle Books now runs its business
    out of new headquarters in Dunmore" after "… is headquartered in Ashcombe". The sentence names the
    subject and one other name, joined by a relation that the rules do not group and that names a
    held post or seat or a move (`SLOT_WORDS`, the word of change here); the subject has one current
    changeable functional fact of that name's kind (a place after "in", none after "of", "with", "for"
    or "by"), and its object is replaced."""
    for s, r, o in extraction.triples:
        subject, new = _key(s), _key(o)
        if subject not in names or new not in names or _within(subject, new) or not SLOT_WORDS.search(r):
            continue
        if [k for k in names if not (_within(k, subject) or _within(k, new))]:
            return None  # a third name: whose place the new one took is not told
        if any(_key(s2) == subject and (_group(r2) or ended_group(normalize_relation(r2)))
               for s2, r2, _ in extraction.triples):
            return None  # the rules read a fact of the subject's: that decides
        known = {f.id: f for key in {normalize(s), subject} for f in current(key)}.values()
        held = [f for f in known if _key(f.subject) == subject and f.replaces is not False]
        if any(_within(_key(f.object), new) for f in held):
            return None  # the subject holds that name already: nothing new took a place
        kind = _KIND.search(r)
        place = None if kind is None else kind.group(1) in ("in", "into")
        candidates = [f for f in held if (g := relation_group(f.rel)) and g not in FIXED_GROUPS
                      and (place is None or (g in PLACE_GROUPS) == place)]
        if len({relation_group(f.rel) for f in candidates}) != 1:
            return None
        fact = max(candidates, key=lambda f: (f.valid_from, f.order))
        return fact.subject, fact.relation, names[new]
    return None


def with_change(extraction: Extraction, change: Triple) -> Extraction:
    """``extraction`` with the told change in place of the triples that worded it between the same two
    names in no relation the rules group ("Calder Dairy | to | Brackett Holdings" from "offloaded Calder
    Dairy to Brackett Holdings"): a grounded answer then reads the change, not its unread wording."""
    ends = (_key(change[0]), _key(change[2]))
    kept = [t for t in extraction.triples
            if (_key(t[0]), _key(t[2])) != ends or _group(t[1]) is not None]
    return Extraction(extraction.entities, [*kept, change])
