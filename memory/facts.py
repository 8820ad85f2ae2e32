"""Fact lifecycle: which stored facts are current, which were superseded, since when and by what.

A *fact* is one triple as one ingest stated it. Its id is `<triple id>@<ingest id>`, so a triple stated
by two ingests is two facts (and one row of the fact vector index). Every fact has `valid_from`
(ISO-8601 UTC), `invalid_from` (None while current) and `superseded_by` (the fact that replaced it).

Supersession is a pure function of the live facts, recomputed per subject whenever an ingest is added
or removed. A subject's facts are taken in (valid_from, ingest order); a fact that *replaces* (its
ingest's `replaces`, else `FUNCTIONAL_RELATIONS`) invalidates every earlier current fact of another
ingest (of any ingest, when it states a change: `CHANGES`) with the same relation and a different object:

    ingest A: Ilse Varga | works for | Ostrander Mills    A current
    ingest B: Ilse Varga | works for | Kettle & Finch     A invalid from B's valid_from, superseded by B
    remove B                                              A current again (nothing of B is left)

A fact that *ends* one (`ENDING_RELATIONS`: "left", "resigned from", "no longer works for") invalidates
the earlier current facts of its group with the same object: "Ilse Varga left Kettle & Finch" ends
"Ilse Varga works for Kettle & Finch".

So reverting an ingest, or replaying the journal after a restart, yields exactly the state that the
remaining ingests give.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from memory.errors import MemoryInputError

_CONTRACT = r"signed (?:new |[a-z0-9]+ year |permanent |professional )?contract with"
"""A contract signed with a club or an employer: "signed a three-year contract with" (normalised)."""
_JOIN = r"(?:will )?join(?:s|ed|ing)?"
"""A join in any tense: "joined", "is joining" (normalised "joining"), "will join"."""
FUNCTIONAL_RELATIONS: tuple[tuple[str, str], ...] = (
    ("birthplace", r"born in|birth ?place( of)?|place of birth"),
    ("birth date", r"born on|date of birth|birth ?date"),
    ("death place", r"died in|place of death"),
    ("death date", r"died on|date of death"),
    ("capital", r"capital( city)?( of)?|(moved|relocated) (its )?capital to|capital (moved|relocated) to"),
    ("continent", r"(located )?(in|on) continent( of)?|continent"),
    ("country", r"(located )?in country( of)?|country"),
    ("location", r"(located|situated|based) in|location( of)?|lies in|"
                 r"(moved|relocated) to new (premises|offices|quarters|site|building) (in|at)|"
                 r"(moved|relocated) (its )?(offices|premises|base|factory|plant) to|"
                 r"(will )?(open|opens|opened) (its |their )?new (offices|premises|base|site) (in|at)"),
    ("headquarters", r"headquartered in|(has its )?(headquarters|head office)( location)?( of| in)?|"
                     r"(moved|relocated) (its )?(headquarters|head office) to|"
                     r"(headquarters|head office) (moved|relocated) to|"
                     r"(will )?(open|opens|opened) (its |their )?new (headquarters|head office) (in|at)"),
    ("residence", r"(lives|living|resides|settled) in|(moved|relocated) (house |home )?to|residence|"
                  r"(makes|made) (his |her |their )?home in"),
    ("chief executive", r"ceo( of)?|chief executive( officer)?( of)?|(led|run|headed|managed) by"),
    ("head of state", r"head of state( of)?|president( of)?"),
    ("chair", r"chair(man|woman|person)?( of)?|chaired by"),
    ("manager", r"(general )?manager( of)?"),
    ("captain", r"captain( of)?|captained by"),
    ("editor", r"editor( in chief)?( of)?|edited by"),
    ("conductor", r"conductor( of)?|conducted by|(music|musical|artistic) director( of)?"),
    ("principal", r"(principal|headteacher|headmaster|headmistress)( of)?"),
    ("director", r"director( of)?"),
    ("head of government", r"head of government( of)?|prime minister( of)?|mayor( of)?"),
    ("citizenship", r"citizen of|(country of )?citizenship|nationality"),
    ("employer", r"((started|began|went|continues|continued) (to )?)?(works?|worked|working)( as [a-z ]+)? (for|at)|"
                 r"employed (by|at)|"
                 rf"employer|employee of|{_JOIN}|(teaches|taught|lectures|lectured) at|"
                 r"(took|accepted|started) (new )?(job|offer|position|post|role)( as [a-z ]+)? (at|with|from)|"
                 rf"hired by|switched (jobs |employers )?to|{_CONTRACT}|(starts|started|will start) (work )?at"),
    ("spouse", r"spouse( of)?|married( to)?|wed|(wife|husband)( of| is)?"),
    ("position", r"plays? (position( of)?|as)|(playing )?position( played)?( of)?"),
    ("team", r"plays? for|member of sports team|signed (with|for)|(transferred|traded|loaned) to|"
             r"switched (teams|clubs) to"),
    ("head coach", r"coached by|(head )?coach( of)?"),
    ("official language", r"official language( of)?"),
    ("owner", r"(owned|acquired|bought|purchased) by|sold to|owner( of)?|(wholly owned )?subsidiary of|"
              r"belong(s|ed)? to"),
    ("manufacturer", r"(manufactured|produced) by|manufacturer"),
)
"""Functional relations: (group, pattern) pairs. A relation is functional (one object per subject at a
time) when its normalised form (`normalize_relation`) matches a pattern *whole*, so document triples
such as "was a painter born in" stay multi-valued (conservative). Two relations of the same group are
the same relation; relations of two different groups are different ones, however close their
embeddings. Everything else ("speaks", "has child", "founded by", ...) is multi-valued."""

ENDING_RELATIONS: tuple[tuple[str, str], ...] = (
    ("employer", r"left|quit|resigned( from)?|retired from|no longer (works?|employed) (for|at|by)|"
                 r"switched (jobs |employers )?from"),
    ("spouse", r"divorced( from)?|no longer married to"),
    ("residence", r"(moved|relocated) (away |house |home )?from|no longer lives in"),
    ("location", r"(moved|relocated) (its )?(offices|premises|base|factory|plant) from"),
    ("team", r"(transferred|traded|loaned|released) from|switched (teams|clubs) from"),
    ("capital", r"(moved|relocated) (its )?capital from"),
    ("headquarters", r"(moved|relocated) (its )?(headquarters|head office) from"),
)
"""Relations that end the current fact of a functional group with the same object (group, pattern)."""
MOVES = r"moved|relocated|switched|transferred|traded|loaned"
"""Verbs of a move from one place, employer or team to another."""
CHANGES = re.compile(rf"(?:(?:capital|headquarters|head office) )?(?:{MOVES})\b.*")
"""Relations that state a change: they replace the earlier fact of their relation stated by the same
ingest too ("X lives in A. He moved house to B.": B), not only those of earlier ingests; a seat's move
said of the seat ("headquarters moved to", a statement's "X's headquarters moved to B") is one too."""
JOINS = re.compile(rf"{_JOIN}|{_CONTRACT}")
"""A join: it replaces the subject's current team as well as its employer ("X plays for A", then "X has
joined B" or "X signed a three-year contract with B": a club takes on players as an employer takes on staff)."""
PLACES = frozenset({"location", "residence", "headquarters"})
"""Groups that say where a subject is. A move ("relocated to", "moved its headquarters from A to B") replaces,
or ends, the subject's fact of any of them: "The Vell Museum relocated to Dunsford" replaces "is located in"
Ardmore, though living somewhere and being located there are two groups."""

_GROUPS = tuple((name, re.compile(pattern)) for name, pattern in FUNCTIONAL_RELATIONS)
_ENDINGS = tuple((name, re.compile(pattern)) for name, pattern in ENDING_RELATIONS)
_FILLER = frozenset("a an the is are was were am be been being currently now still also".split())
"""Words dropped from relations: articles, auxiliaries and time adverbs ("has/have/had" only before a
participle: "has joined", "has been living in"; "has its headquarters in" keeps it)."""
_PARTICIPLES = frozenset("been left led run won become made taken gone begun".split())

_HOLDS = (r"(?:(?:is|was|became|is now|has been|had been|was appointed|was named|was made|was elected|was promoted to|"
          r"serves as|served as|took over as|takes over as|has taken over as|stepped in as)\s+)?")
_FRESH = r"(?:new\s+|current\s+|present\s+|acting\s+|interim\s+)?"
_ROLES = (r"ceo|chief executive(?: officer)?|head coach|coach|president|chairman|chairwoman|chair|founder|co-founder|"
          r"music director|artistic director|director|conductor|mayor|captain|manager|owner|editor|principal|"
          r"headteacher|headmaster|headmistress")
ROLE_OF = re.compile(rf"{_HOLDS}(?:the\s+|a\s+|an\s+)?{_FRESH}(?P<role>{_ROLES})\s+of\s+(?:the\s+)?(?P<of>\S.*)",
                     re.IGNORECASE)
"""A role stated from its holder's side: "X is the CEO of Y" is Y's fact "CEO of" X."""
_NAME = r"(?-i:[A-Z0-9])[^\s']*(?:\s+(?:of|and|de|&|(?-i:[A-Z0-9])[^\s']*))*"
"""Capitalised words, with the connectors inside a name: "Bank of Leeds"."""
ROLE_POSSESSIVE = re.compile(rf"{_HOLDS}(?:the\s+)?(?P<of>{_NAME})(?:'s|'|’s|’)\s+{_FRESH}(?P<role>{_ROLES})",
                             re.IGNORECASE)
"""The same with the role after a possessive name: "X became Quillon Robotics' CEO"."""
_AFTER_ROLE = "(?:of|and|or|but|since|in|at|for|from|until|with|is|was|who|during|on|to|by|he|she|they)"
"""Words that may follow a role that ends its phrase: "Bellmoor United's head coach and" ..."""
POSSESSED_ROLE = re.compile(rf"(?:'s|'|’s|’)?\s+{_FRESH}(?P<role>{_ROLES})\b(?!\s+(?-i:(?!{_AFTER_ROLE}\b)[a-z]))",
                            re.IGNORECASE)
"""What follows a name that a role after it belongs to: "(Bellmoor United)'s head coach", not a role word
that describes a noun after it: "Barcelona's principal playmaker"."""
_KIN = r"brother|sister|son|daughter|father|mother|wife|husband|cousin|uncle|aunt|nephew|niece"
KIN_POSSESSED = re.compile(rf"(?:'s|'|’s|’)\s+(?:(?:younger|older|elder|twin|late)\s+)?(?P<kin>{_KIN})(?![\w-])",
                           re.IGNORECASE)
"""What follows a name that a kin after it belongs to: "(A is B)'s brother" is B's "brother of" A."""
KIN_OF = re.compile(rf"(?P<of>{_NAME}){KIN_POSSESSED.pattern}", re.IGNORECASE)
"""A kin of a name: "Clara Hoyer's husband"."""
NAMED_TO_ROLE = re.compile(rf"\s+(?:as\s+(?:(?:its|their|the)\s+)?|(?:its|their)\s+|(?=(?-i:[a-z]))){_FRESH}"
                           rf"(?P<role>{_ROLES})\b", re.IGNORECASE)
"""What follows the person an organisation names to a role: "(X named Y) its new CEO", "(X appointed Y)
as chief executive", "(X elected Y) mayor"."""


def role_of(text: str) -> tuple[str, str] | None:
    """The role and what it is of, when ``text`` (a relation and its object) states a role from its
    holder's side: "is the CEO of Kettle & Finch" gives ("CEO", "Kettle & Finch")."""
    text = text.strip().rstrip(".")
    m = ROLE_OF.fullmatch(text) or ROLE_POSSESSIVE.fullmatch(text)
    return (m["role"], m["of"].strip()) if m else None


def normalize_relation(relation: str) -> str:
    """Lower case, possessive 's and punctuation dropped, articles and auxiliaries removed."""
    words = re.findall(r"[a-z0-9&]+", re.sub(r"'s\b", " ", relation.lower()))
    words = [w for i, w in enumerate(words) if not (w == "since" and words[i + 1 : i + 2]
                                                    and words[i + 1].endswith("ed"))]  # "has since moved to"
    kept = [w for i, w in enumerate(words) if w not in _FILLER and not (
        w in ("has", "have", "had") and any(n in _PARTICIPLES or n.endswith("ed") for n in words[i + 1 : i + 2]))]
    return " ".join(kept or words)


_ORGANISATION = re.compile(r"\b(?:Bank|Insurance|Group|Company|Corporation|Corp|Inc|Ltd|LLC|plc|Foods|Analytics|"
                           r"Studios?|Records|Airways|Airlines|Logistics|Shipping|Systems|Robotics|Software|"
                           r"Technologies|Labs?|Partners|Ventures|Capital|Holdings|Media|Press|Publishing|Publishers|"
                           r"Books|Motors|Energy|Mining|Pharmaceuticals|Games|Consulting|Solutions|Industries|"
                           r"Brewing|Rail)$")
"""Last words that make a name an organisation's: "Copperline Bank", "Northwind Shipping"."""


def organisation(name: str) -> bool:
    """The name ends with an organisation's word ("Copperline Bank", "Cresswell Labs")."""
    return _ORGANISATION.search(name) is not None


def employer_move(relation: str, obj: str) -> str:
    """"moved to" an organisation is joining it ("moved to Copperline Bank"), not a place to live."""
    return "joined" if re.fullmatch(r"(?:later |then )?moved to", normalize_relation(relation)) \
        and organisation(obj) else relation


_TOOK_ON = re.compile(r"(signed|hired|recruited|acquired|bought|purchased)"
                      r"(?:\s+(?!(?:with|for|to|by|at|in|on|of|from|as)\b)[a-z]+){0,2}", re.IGNORECASE)
_TAKEN_ON = {"signed": "signed with", "hired": "was hired by", "recruited": "was hired by",
             "acquired": "was acquired by", "bought": "was bought by", "purchased": "was bought by"}


def taken_on(relation: str) -> str | None:
    """The relation from the side of what is taken on, when an organisation takes on a person or a
    company, its kind between: "signed striker" (B) is B's "signed with" (the club), "hired engineer"
    B's "was hired by", "acquired rival" B's "was acquired by" (an owner)."""
    m = _TOOK_ON.fullmatch(relation.strip())
    return _TAKEN_ON[m[1].lower()] if m else None


_HOLDER_VERBS = (("runs", "is run by"), ("leads", "is led by"), ("heads", "is headed by"), ("manages", "is managed by"),
                 ("coaches", "is coached by"), (r"chairs(?: the board of)?", "is chaired by"), ("owns", "is owned by"),
                 ("captains", "is captained by"), ("edits", "is edited by"), ("directs", "director of"),
                 ("conducts", "is conducted by"), (r"(?:took|takes|has taken) (?:charge|the helm) of", "is led by"))
_HOLDER_VERB = re.compile(rf"(?:(?:now|currently|still)\s+)?(?:{'|'.join(f'({verb})' for verb, _ in _HOLDER_VERBS)})"
                          r"(?:\s+the)?", re.IGNORECASE)


def held_by(relation: str) -> str | None:
    """The relation from the side of what is held, when a holder's present verb states a role or an
    owner: "coaches" (the Falcons) is the Falcons' "is coached by", "runs" a company's "is run by",
    "took charge of" an orchestra its "is led by", "directs" an institute its "director of" (a film's
    "directed by" stays a list), so the next holder replaces this one (the holder changes, the held stays)."""
    m = _HOLDER_VERB.fullmatch(relation.strip())
    return _HOLDER_VERBS[m.lastindex - 1][1] if m else None


MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
DAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
TIME = re.compile(rf"(?:\d{{1,2}} )?(?:{MONTHS})(?: \d{{1,2}})?(?:,? \d{{3,4}})?|(?:{DAYS})|\d{{3,4}}s?")
"""An object that is a time ("June", "3 March 1948", "2027", "Friday"): no place, holder or employer."""
DATE_GROUPS = frozenset({"birth date", "death date"})
"""The functional groups whose objects are times."""
TIME_OPENING = re.compile(
    rf"(?:(?:last|this|next|earlier\s+this|later\s+that)\s+(?:spring|summer|autumn|fall|winter|year|month|week|season|"
    rf"{MONTHS})|yesterday|today|recently|lately|"
    r"(?:a|one|two|three|four|five|six|\d+)\s+(?:years?|months?|weeks?|days?)\s+(?:later|ago|earlier))"
    r"(?!\s*(?:is|was|are|were|'s|’s)\b),?\s+", re.IGNORECASE)
"""A time that opens a statement before its subject: "Last spring X left A for B", "Two years later, X ..."."""


_NEW_ROLE = re.compile(r"(?:has )?(?:new|current) ")
"""What comes before a role that is new: "has new principal" (Y) is the "principal" Y, "new owner is" (Y)
the "owner" Y."""


def relation_group(relation: str) -> str | None:
    """The `FUNCTIONAL_RELATIONS` group a normalised relation belongs to; None: multi-valued."""
    if new := _NEW_ROLE.match(relation):
        relation = relation[new.end() :]
    return next((name for name, pattern in _GROUPS if pattern.fullmatch(relation)), None)


def ended_group(relation: str) -> str | None:
    """The functional group whose fact a normalised relation ends ("left": employer); None: none."""
    return next((name for name, pattern in _ENDINGS if pattern.fullmatch(relation)), None)


def _supersedable(fact: Fact) -> bool:
    """The fact's object is no time, or its relation is stated to replace or is of a date's group: a
    time object of another group ("moved in" 2021, "will open its new offices in" June) takes no part in
    supersession unless its ingest said so."""
    return fact.replaces is not None or not TIME.fullmatch(fact.object) or relation_group(fact.rel) in DATE_GROUPS


def _places(group: str | None, other: str | None) -> bool:
    """Both groups say where the subject is (`PLACES`)."""
    return group in PLACES and other in PLACES


def parse_time(value: str | None) -> str | None:
    """Canonical ISO-8601 UTC text ('2024-05-01T09:30:00.000000Z') of an ISO-8601 time; naive means
    UTC, None stays None. Canonical texts sort in time order, so the lifecycle compares them as strings."""
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", value.strip()))  # Python 3.10 has no 'Z'
    except (AttributeError, ValueError):
        raise MemoryInputError(f"{value!r} is not an ISO-8601 time (e.g. 2024-05-01 or 2024-05-01T09:30:00Z)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def utc_time(seconds: float) -> str:
    """Canonical ISO-8601 UTC text of a Unix time."""
    return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass
class Fact:
    """One triple as one ingest stated it, with its lifetime."""

    id: str
    triple: str
    """Key of the triple's row in the fact vector index (shared by every ingest that states it)."""
    ingest_id: str
    subject: str
    relation: str
    object: str
    s: str
    """Entity key of the subject."""
    o: str
    """Entity key of the object."""
    rel: str
    """Normalised relation."""
    passages: tuple[str, ...]
    """Passages of the ingest that state it."""
    replaces: bool | None
    valid_from: str
    order: tuple[int, int]
    """(ingest sequence, position in the ingest): breaks valid_from ties; not part of the state."""
    invalid_from: str | None = None
    superseded_by: str | None = None

    def valid_at(self, as_of: str | None) -> bool:
        """as_of=None: not superseded (the latest state); otherwise valid_from <= as_of < invalid_from."""
        if as_of is None:
            return self.invalid_from is None
        return self.valid_from <= as_of and (self.invalid_from is None or as_of < self.invalid_from)


@dataclass
class FactHit:
    """A fact as the retrieval API returns it. `score` is a raw, uncalibrated cosine in [-1, 1]
    (`search_facts`) or the entity match's cosine (`facts_about`: 1.0 for the entity itself)."""

    id: str
    ingest_id: str
    subject: str
    relation: str
    object: str
    score: float
    valid_from: str
    invalid_from: str | None
    superseded_by: str | None

    @property
    def text(self) -> str:
        return f"{self.subject} {self.relation} {self.object}"


class FactLedger:
    """The lifetimes of all stored facts, with the lookups retrieval needs."""

    def __init__(self, relation_threshold: float) -> None:
        self.relation_threshold = relation_threshold
        self.facts: dict[str, Fact] = {}
        self._seq = 0
        self._ingests: dict[str, tuple[list[str], list[str]]] = {}
        """ingest id -> (its fact ids, its passage ids)"""
        self._valid_from: dict[str, str] = {}
        self._by_subject: dict[str, set[str]] = {}
        self._by_entity: dict[str, set[str]] = {}
        self._by_triple: dict[str, set[str]] = {}
        self._by_passage: dict[str, set[str]] = {}
        self._passage_ingests: dict[str, set[str]] = {}
        self._relations: dict[str, np.ndarray] = {}
        self._relation_use: Counter[str] = Counter()
        self._superseded: set[str] = set()

    # ---- changes -----------------------------------------------------------------------------
    def add(self, record: dict, relation_vectors: dict[str, np.ndarray], recompute: bool = True) -> None:
        """Register an ingest record's facts (see `GraphMemory._build_record` for its fields)."""
        ingest_id, self._seq = record["id"], self._seq + 1
        valid_from = record.get("valid_from") or utc_time(record["created_at"])  # records before the lifecycle
        self._valid_from[ingest_id] = valid_from
        passages = [p["id"] for p in record["passages"]]
        for pid in passages:
            self._passage_ingests.setdefault(pid, set()).add(ingest_id)
        ids = []
        for i, f in enumerate(record["facts"]):
            fact = Fact(
                f"{f['id']}@{ingest_id}", f["id"], ingest_id, *f.get("surface", (f["s"], f["r"], f["o"])), f["s"], f["o"],
                f.get("relation") or normalize_relation(f["r"]), tuple(f.get("passages", ())), record.get("replaces"),
                valid_from, (self._seq, i),
            )
            ids.append(fact.id)
            self.facts[fact.id] = fact
            for index, key in self._entries(fact):
                index.setdefault(key, set()).add(fact.id)
            self._relation_use[fact.rel] += 1
            self._relations.setdefault(fact.rel, relation_vectors[fact.rel])
        self._ingests[ingest_id] = (ids, passages)
        if recompute:
            self.recompute({self.facts[i].s for i in ids})

    def remove(self, ingest_id: str) -> None:
        """Forget an ingest's facts; the facts they superseded become current again unless others do."""
        ids, passages = self._ingests.pop(ingest_id)
        del self._valid_from[ingest_id]
        for pid in passages:
            self._passage_ingests[pid].discard(ingest_id)
            if not self._passage_ingests[pid]:
                del self._passage_ingests[pid]
        subjects = set()
        for fid in ids:
            fact = self.facts.pop(fid)
            self._superseded.discard(fid)
            subjects.add(fact.s)
            for index, key in self._entries(fact):
                index[key].discard(fid)
                if not index[key]:
                    del index[key]
            self._relation_use[fact.rel] -= 1
            if not self._relation_use[fact.rel]:
                del self._relation_use[fact.rel], self._relations[fact.rel]
        self.recompute(subjects)

    def recompute(self, subjects: Iterable[str] | None = None) -> None:
        """Derive invalid_from / superseded_by of the given subjects' facts (all subjects: None)."""
        same: dict[tuple[str, str], bool] = {}
        for subject in list(self._by_subject) if subjects is None else subjects:
            facts = sorted((self.facts[i] for i in self._by_subject.get(subject, ())), key=lambda f: (f.valid_from, f.order))
            for f in facts:
                f.invalid_from = f.superseded_by = None
            timed = {f.id for f in facts if not _supersedable(f)}
            for i, new in enumerate(facts):
                if new.id in timed:
                    continue  # "will open its new offices in" June: no place, and it ends none
                ends = ended_group(new.rel)
                change = CHANGES.fullmatch(new.rel) is not None
                joins = JOINS.fullmatch(new.rel) is not None
                if ends is not None:
                    for old in facts[:i]:
                        group = relation_group(old.rel)
                        if old.invalid_from is None and old.o == new.o \
                                and (group == ends or change and _places(group, ends)):
                            old.invalid_from, old.superseded_by = new.valid_from, new.id
                    continue
                if not (new.replaces if new.replaces is not None else relation_group(new.rel) is not None):
                    continue
                for old in facts[:i]:
                    if old.invalid_from is None and (old.ingest_id != new.ingest_id or change) and old.o != new.o \
                            and (new.replaces or old.id not in timed):
                        pair = (old.rel, new.rel)
                        if pair not in same:
                            same[pair] = self.same_relation(*pair)
                        if same[pair] or change and _places(relation_group(old.rel), relation_group(new.rel)) \
                                or joins and relation_group(old.rel) == "team":
                            old.invalid_from, old.superseded_by = new.valid_from, new.id
            for f in facts:
                (self._superseded.add if f.invalid_from is not None else self._superseded.discard)(f.id)

    def _entries(self, fact: Fact) -> list[tuple[dict[str, set[str]], str]]:
        """The lookup tables that list a fact, each with the fact's key in it."""
        return [
            (self._by_subject, fact.s), (self._by_triple, fact.triple),
            *((self._by_entity, e) for e in {fact.s, fact.o}), *((self._by_passage, p) for p in fact.passages),
        ]

    # ---- queries -----------------------------------------------------------------------------
    def same_relation(self, a: str, b: str) -> bool:
        """Equal, or of one functional group, or (neither in another group) embeddings close enough."""
        if a == b:
            return True
        ga, gb = relation_group(a), relation_group(b)
        if ga is not None and gb is not None:
            return ga == gb
        return float(self._relations[a] @ self._relations[b]) >= self.relation_threshold

    def relation_vector(self, relation: str) -> np.ndarray | None:
        return self._relations.get(relation)

    def superseded_by_ingest(self, ingest_id: str) -> list[str]:
        """Ids of the facts that one ingest's facts supersede now."""
        mine = set(self._ingests[ingest_id][0]) if ingest_id in self._ingests else set()
        return sorted(fid for fid in self._superseded if self.facts[fid].superseded_by in mine)

    def hidden_triples(self, as_of: str | None) -> set[str]:
        """Triples none of whose facts is valid at as_of (None: current): they may not seed retrieval."""
        if as_of is None:
            candidates = {self.facts[fid].triple for fid in self._superseded}
        else:
            candidates = set(self._by_triple)
        return {t for t in candidates if not any(self.facts[i].valid_at(as_of) for i in self._by_triple[t])}

    def hidden_passages(self, as_of: str | None) -> set[str]:
        """Passages that state facts, none valid at as_of (None: current); with as_of, also passages
        without facts that no ingest had brought by then."""
        if as_of is None:
            candidates = {p for fid in self._superseded for p in self.facts[fid].passages}
        else:
            candidates = set(self._passage_ingests)
        hidden = set()
        for pid in candidates:
            facts = self._by_passage.get(pid)
            if facts:
                visible = any(self.facts[i].valid_at(as_of) for i in facts)
            else:
                visible = any(self._valid_from[i] <= as_of for i in self._passage_ingests[pid])
            if not visible:
                hidden.add(pid)
        return hidden

    def representative(self, triple: str, as_of: str | None) -> Fact | None:
        """The earliest-stated fact of a triple that is valid at as_of, if any."""
        valid = [self.facts[i] for i in self._by_triple.get(triple, ()) if self.facts[i].valid_at(as_of)]
        return min(valid, key=lambda f: (f.valid_from, f.order), default=None)

    def about(self, entity: str) -> set[str]:
        """Triples whose subject or object is this entity key."""
        return {self.facts[i].triple for i in self._by_entity.get(entity, ())}

    def of_entity(self, entity: str) -> list[Fact]:
        """Every stored fact, current or superseded, whose subject or object is this entity key; oldest first."""
        return sorted((self.facts[i] for i in self._by_entity.get(entity, ())), key=lambda f: (f.valid_from, f.order))

    def of_passage(self, pid: str) -> list[Fact]:
        """Every stored fact that this passage states, current or superseded; oldest first."""
        return sorted((self.facts[i] for i in self._by_passage.get(pid, ())), key=lambda f: (f.valid_from, f.order))

    def counts(self) -> tuple[int, int]:
        """(current facts, superseded facts)."""
        return len(self.facts) - len(self._superseded), len(self._superseded)

    def snapshot(self) -> dict:
        """Plain data of every fact's state and the relation vectors (the ingest order excluded)."""
        facts = {
            fid: (f.triple, f.ingest_id, f.subject, f.relation, f.object, f.rel, f.passages, f.replaces,
                  f.valid_from, f.invalid_from, f.superseded_by)
            for fid, f in self.facts.items()
        }
        return {"facts": facts, "relations": {r: v.tobytes() for r, v in self._relations.items()}}


def hit(fact: Fact, score: float) -> FactHit:
    return FactHit(fact.id, fact.ingest_id, fact.subject, fact.relation, fact.object, score,
                   fact.valid_from, fact.invalid_from, fact.superseded_by)
