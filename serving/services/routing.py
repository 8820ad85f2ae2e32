"""Decide where an update goes: skill (examples), memory (documents, unknown subjects) or a
weight edit (one fact about a subject whose old object the model states).

The policy is "edit only what the model states". A single-fact statement is parsed into subject,
relation and object (:func:`parse_statement`); the model is then asked for the fact three ways
(:func:`probe_model`) and counts as stating the subject's old object when its greedy answers name
the same entity, and made-up subjects do not get that entity too. Anything else is a guess: the
fact goes to the graph memory, which also keeps its source.

>>> classify({"text": "The Eiffel Tower is located in Rome."}, lambda fact: probe_model(model, tok, fact)).route
'edit'
>>> classify({"text": "Zorbina Quell speaks Hungarian."}, lambda fact: probe_model(model, tok, fact)).route
'memory'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from memory.facts import (KIN_OF, TIME_OPENING, employer_move, held_by, normalize_relation, relation_group, role_of,
                          taken_on)
from serving.core.batch import KVBatch
from serving.core.generation import SamplingParams, stop_token_ids

Route = Literal["memory", "edit", "skill"]

CONNECTORS = frozenset("of for de da del della di do dos du la le van von der den y and & the bin bint ibn al".split())
"""Lower-case words that stay inside a name when a capitalised word follows ("Paul I of Russia",
"Alliance for Climate Protection")."""
OPENERS = frozenset("the a an in on at for".split())
"""Words that may open a statement before its subject ("The capital of Japan", "In Basel, ...")."""
STOPWORDS = frozenset(
    "a an the of in on at as by for from to with into within and or but is was are were be been being "
    "has have had do does did that which who whose whom this these those it its he she they them their "
    "his her i we you our your my not no also very more most some any all one can could will would "
    "there here what when where how why than then so such about over under".split())
"""Function words: never an object of their own, never part of a lower-case object."""
GENERIC = STOPWORDS | frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june "
    "july august september october november december".split())
"""Words that name nothing in a model's answer (weekdays and months are how it fills a date)."""
HEADS = frozenset(
    "university college school institute city town village state republic company team group band church "
    "river lake mount island".split())
"""Words that head a name but are none alone ("University" of a cut-off "University of ...")."""
FILLERS = frozenset(
    "example part role place way kind type number lot bit variety result time year field area member thing "
    "people person world life work history form set blend mix".split())
"""Nouns that fill generic text ("an example of how", "a blend of"): never a lower-case object."""
ADVERBS = frozenset("now currently still also recently presently already newly meanwhile today".split())
"""Time adverbs between a subject and its verb ("Marek Lindqvist now works for"): part of neither."""
ABBREVIATIONS = frozenset("dr mr mrs ms st jr sr prof no vs mt ft gen col lt sgt rev".split())
VERBS = frozenset(
    "is was are were has had lives lived works worked plays played speaks spoke belongs belonged became died "
    "founded wrote won leads led owns owned married studied teaches taught directed invented discovered "
    "designed created produced holds held runs ran joined performs performed writes sings sang follows".split())
"""Verbs that may stand alone before a lower-case object ("plays reggae", "performs jazz")."""
MODALS = frozenset("can could may might will would".split())
"""Verbs after which a lower-case noun before them is still the subject's ("uprising can be found in")."""


@dataclass(frozen=True)
class Fact:
    subject: str
    relation: str
    object: str
    template: str = ""
    """The statement's words before the object, ``{}`` standing for the subject, when the subject
    does not open it ("The company that produced {} is"); empty means ``"<subject> <relation>"``."""

    @property
    def prompt(self) -> str:
        """The statement up to its object: what the model completes when probed or edited."""
        if self.template:
            return self.template.replace("{}", self.subject)
        return f"{self.subject} {self.relation}".strip()

    @property
    def triple(self) -> tuple[str, str, str]:
        """The fact as the memory stores it: a name's leading "The" dropped, as extraction drops it, so
        that "Mistral Transit sold the Corrin Valley Railway to B" replaces "The Corrin Valley Railway
        is owned by Mistral Transit"."""
        return re.sub(r"^The (?=[A-Z0-9])", "", self.subject), self.relation, self.object


@dataclass(frozen=True)
class Probe:
    answer: str
    """The entity the model names for the subject (the best-supported one), else its plain continuation."""
    agreement: float
    """Share of the three framings (statement, "Fact:" statement, chat request) whose answer names it."""
    specificity: float
    """Share of the made-up control subjects for which the model does not name it (1: only this subject)."""
    answers: tuple[str, ...] = ()
    """The three greedy answers, for the record."""


@dataclass
class Decision:
    route: Route
    reason: str
    fact: Fact | None = None
    probe: Probe | None = None

    def as_details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"route": self.route, "reason": self.reason}
        if self.fact:
            out["fact"] = self.fact.__dict__
        if self.probe:
            out["probe"] = self.probe.__dict__
        return out


@dataclass
class RouterConfig:
    agreement: float = 0.6
    """Share of the framings that must name the same entity for the model to state it (2 of 3) ..."""
    specificity: float = 1.0
    """... and share of the made-up control subjects that must not get that entity."""
    word_agreement: float = 1.0
    """The share for an answer in lower-case words (a role, a genre: "captain", "musical"), which the
    model also says of people and bands it does not know."""
    max_statement_chars: int = 300

    def __post_init__(self) -> None:
        if not 0.0 < self.agreement <= 1.0 or not 0.0 < self.word_agreement <= 1.0 or not 0.0 <= self.specificity <= 1.0:
            raise ValueError("router agreement and word_agreement must be in (0, 1] and specificity in [0, 1]")


def sentences(text: str) -> list[str]:
    """Split at ``.!?`` before a capital, digit or quote, and at newlines; not after an initial
    ("Charles M. Hudson") or a title ("Dr. Marren")."""
    out: list[str] = []
    for part in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])|\n+", text.strip()):
        part = part.strip()
        if not part:
            continue
        last = out[-1].split()[-1].rstrip(".").lower() if out else ""
        if out and out[-1].endswith(".") and (len(last) == 1 or last in ABBREVIATIONS):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


_DATE_WORD = re.compile(r"\d{3,4}s?|january|february|march|april|may|june|july|august|september|october|november"
                        r"|december|spring|summer|autumn|fall|winter", re.IGNORECASE)
"""A word that opens a date after "In"/"On" ("In 2023", "In March 2020", "In the 1990s" aside)."""


def _bare(word: str) -> str:
    return re.sub(r"^[\"'(\[]+|[\"')\],;:.!?]+$", "", word)


def _without_article(name: str) -> str:
    """"The Harrowgate Hawks" as an entity: "Harrowgate Hawks"."""
    return re.sub(r"^(?:the|a|an) ", "", name, flags=re.IGNORECASE)


def _named(word: str) -> bool:
    """A word of a name: any capital letter or digit ("iDisk", "Paul", "I", "1985")."""
    return any(c.isupper() or c.isdigit() for c in _bare(word))


def _subject_end(words: list[str], start: int) -> tuple[int, str]:
    """End (exclusive) of the name that starts at ``start`` and the mark closing it: "," or "'s"."""
    i = start
    while i < len(words):
        if "(" in words[i] and ")" not in words[i]:  # a parenthesis is part of the name: "iPad (3rd generation)"
            i = next((j for j in range(i + 1, min(i + 5, len(words))) if ")" in words[j]), i)
        word = words[i]
        if word.endswith(","):
            return i + 1, ","
        if re.search(r"['’]s$", word):
            return i + 1, "'s"
        nxt = i + 1
        if nxt < len(words) and (_named(words[nxt]) or words[nxt].startswith("(") or (words[nxt].lower() in CONNECTORS and nxt + 1 < len(words)
                                                         and _named(words[nxt + 1]))):
            i = nxt
            continue
        return i + 1, ""
    return len(words), ""


KINDS = frozenset("sport position instrument language religion genre profession occupation".split())
"""Nouns that name the kind of a lower-case object before it: "plays the sport" basketball."""


def _object_start(rest: list[str]) -> int | None:
    """Where the object begins in the words after the subject: at the first named word (so "United
    States of America" stays whole), else the trailing lower-case words ("linebacker", "heavy metal"),
    after a noun of their kind ("plays the instrument" piano)."""
    named = next((i for i, w in enumerate(rest) if _named(w)), None)
    if named is not None:
        return named
    start = len(rest) - 1
    while start > 1 and len(rest) - start < 3:
        word = rest[start - 1].lower()
        if word in STOPWORDS | KINDS or re.search(r"(s|ed|ing)$", word):
            break
        start -= 1
    return start if start > 0 else None


def _relation(prefix: list[str], rest: list[str]) -> str:
    """The relation as the memory stores it: "capital of", "produced by", "located in"."""
    if prefix and prefix[0].lower() in ("the", "a", "an"):
        prefix = prefix[1:]
    if len(prefix) > 1 and prefix[-1].lower() in ("the", "a", "an"):
        prefix = prefix[:-1]  # "The head coach of the Marrow Falcons": "head coach of"
    if prefix and prefix[0].lower() not in OPENERS:
        for i, word in enumerate(prefix[:-1]):
            if word.lower() in ("that", "which", "who") and prefix[i + 1].endswith("ed"):
                return f"{prefix[i + 1]} by"
        return " ".join(prefix)
    words = [w.strip(",") for w in rest]
    while words and words[0].lower() in ("who", "which", "that"):
        words = words[1:]
    return " ".join(words)


TITLE_WORDS = frozenset("a an the of from to in on at as by for with and or me you my your upon into".split())
"""Lower-case words inside a work's title ("Free as a Bird", "Letter from Birmingham Jail")."""
_JOIN = "\u2060"  # a word joiner: not whitespace, so the title splits as one word


def _title_span(words: list[str]) -> tuple[int, int] | None:
    """The words (start, end) of a title that the statement's copula follows and that holds lower-case
    words, an inner possessive or a leading "In" ("In My Life was performed by X", "The author of
    Letter from Birmingham Jail is Y"); None when there is no such title."""
    end = next((i for i, w in enumerate(words) if i and w in ("is", "was", "are", "were")), None)
    if end is None or any("," in w for w in words[:end]):
        return None
    start = 0
    if words[0].lower() in ("the", "a", "an") and len(words) > 1 and not _named(words[1]):
        start = max((i + 1 for i, w in enumerate(words[:end]) if w == "of"), default=0)  # "The author of" T
        if not start:
            return None
    title = words[start:end]
    if len(title) < 2 or not (_named(title[0]) and _named(title[-1])):
        return None
    inner = [w for w in title if not _named(w)]
    if any(w.lower() not in TITLE_WORDS for w in inner):
        return None
    # a name's own "of" or "The" ("The CEO of Brackwater Analytics") is left to the parser
    titled = (any(w not in CONNECTORS for w in inner) or any(re.search(r"['’]s$", w) for w in title[:-1])
              or title[0].lower() in OPENERS - {"the", "a", "an"})
    return (start, end) if titled else None


def parse_statement(sentence: str) -> Fact | None:
    """One fact from one statement, or None when the sentence does not state one; a work's title
    before the copula is one name (``_title_span``: "Free as a Bird was performed by X")."""
    words = sentence.strip().split()
    if len(words) > 1 and words[0].lower() in OPENERS and _DATE_WORD.fullmatch(_bare(words[1])):
        return None  # "In 2023 Priya Nair left ...": a dated statement, read as a document
    span = _title_span(words)
    if span:
        a, b = span
        fact = _parse_statement(" ".join([*words[:a], _JOIN.join(words[a:b]), *words[b:]]))
        if fact:
            return Fact(*(getattr(fact, k).replace(_JOIN, " ") for k in ("subject", "relation", "object", "template")))
    return _parse_statement(sentence)


def _parse_statement(sentence: str) -> Fact | None:
    """One fact from one statement, or None when the sentence does not state one.

    Shapes: ``<Subject> <relation> <object>`` ("Kira Osei lives in Accra"), appositive ``<Subject>,
    <relation> <object>`` ("iDisk, a product of Intel"), possessive ``<Subject>'s <relation> <object>``,
    and ``The <relation noun> of|that <verb>|<verb>ed by <Subject> is <object>`` or ``In <Subject>,
    <relation> <object>`` ("The company that produced Ford Mustang is Porsche"). The subject is a name
    (capitalised words, inner "of", "de", ...), or one lower-case word that opens the sentence before
    its verb ("flanker is associated with the sport of rugby"); the object is the name that ends the sentence, from
    the first named word after the subject ("United States of America"), or the trailing lower-case
    word(s) ("linebacker"). A sentence that goes on after its object is a document, not a fact. A role
    stated from its holder's side ("Tomas Brenn is the CEO of Kettle & Finch") is the fact of what the
    role is of ("The CEO of {} is", subject "Kettle & Finch", object "Tomas Brenn"), and so is a kin
    after a possessive ("Benedikt Hoyer is Clara Hoyer's husband": Clara Hoyer's "husband of"). "Moved to" an
    organisation is "joined" (``memory.facts.employer_move``).
    """
    text = sentence.strip()
    if text.endswith("?"):
        return None
    if TIME_OPENING.match(text):
        return None  # "Last spring X joined A": read as a document, as a dated opening is
    words = text.rstrip(".!").split()
    if len(words) < 3:
        return None
    lower = next((n for n in (1, 2) if len(words) > n + 1 and words[n] in VERBS
                  and all(w.isalpha() and w.islower() and w not in STOPWORDS for w in words[:n])), 0)
    if _named(words[0]) and words[0].lower() not in OPENERS or words[0].lower() in ("the", "a", "an") and _named(words[1]):
        start = 0
    elif lower:
        start = 0  # a lower-case subject of one or two words before its verb ("shooting guard is associated with rugby")
    elif words[0].lower() in OPENERS:
        start = next((i for i, w in enumerate(words) if i > 0 and _named(w)), len(words))
    else:
        return None
    end, mark = (lower, "") if lower else _subject_end(words, start) if start < len(words) else (start, "")
    if mark == "," and end < len(words) and _named(words[end]) and words[start].lower() not in OPENERS:
        end, mark = _subject_end(words, end)  # a title after a comma is still the name: "Louis Henri, Duke of Bourbon"
    if (not mark and start == 0 and end + 1 < len(words) and words[end + 1] in VERBS | MODALS
            and words[end].isalpha() and words[end].islower() and not words[end].endswith("ly")
            and words[end] not in STOPWORDS | VERBS | ADVERBS):
        end += 1  # named words and the noun they name before the verb: "Gaelic football was created in",
        # "Athens Polytechnic uprising can be found in"; not an adverb: "Hope Solo professionally plays"
    elif (not mark and start == 0 and end + 1 < len(words) and words[end + 1].lower() in ("which", "that", "who")
          and re.fullmatch(r"[a-z]+,", words[end]) and words[end][:-1] not in STOPWORDS | VERBS | ADVERBS):
        end, mark = end + 1, ","  # ... and before a relative clause: "Pauline epistles, which is named after"
    while not mark and len(words) > end + 2 and words[end].lower() in ADVERBS:
        del words[end]  # "Marek Lindqvist now works for Halvard Freight": the fact is "works for"
    rest = words[end:]
    at = _object_start(rest) if rest and not _named(rest[0]) else None
    if at is None or at == 0:
        return None
    subject = re.sub(r"(,|['’]s)$", "", " ".join(words[start:end]))
    obj, relation = " ".join(rest[at:]).strip("\"'"), rest[:at]
    if (all(w.lower() in STOPWORDS or not any(c.isalpha() for c in w) for w in subject.split())
            or len(obj.split()) > (10 if _name_then_noun(rest[at:]) else 6) or len(relation) > 8 or re.search(r"[:;]", " ".join(rest))
            or _kind(obj) != "word" and not _name_then_noun(rest[at:])
            or any(w.endswith(",") for w in relation)
            or _kind(obj) == "word" and not any(w.lower() in STOPWORDS | VERBS for w in relation)):
        return None
    _, joined, tail = f" {' '.join(relation)}".rpartition(" and ")
    if joined and relation_group(normalize_relation(tail)):
        relation = tail.split()  # "Isolde Marr packed up and settled in Brixham": the fact is "settled in"
    if relation[-1].lower() in ("left", "quit") and " for " in f" {obj} ":
        return None  # "X left A for B": two employers, read as a document ("left" A, "joined" B)
    if len(obj.split()) > 1 and obj.split()[-1] == "home":
        return None  # "X now calls B home": where X lives, read as a document (extraction's "lives in" B)
    role = role_of(" ".join([*relation, obj])) if start == 0 and not mark else None
    if role and _named(role[1].split()[0]):  # "Tomas Brenn is the CEO of Kettle & Finch": the company's fact
        return Fact(role[1], f"{role[0]} of", subject, f"The {role[0]} of {{}} is")
    kin = KIN_OF.fullmatch(obj) if start == 0 and not mark and [w.lower() for w in relation] in (["is"], ["was"]) \
        else None
    if kin:  # "Benedikt Hoyer is Clara Hoyer's husband": Clara Hoyer's "husband of" Benedikt Hoyer
        return Fact(kin["of"], f"{kin['kin'].lower()} of", subject, f"The {kin['kin'].lower()} of {{}} is")
    joined = taken_on(" ".join(relation)) if start == 0 and not mark and _kind(obj) == "name" else None
    if joined:  # "The Harrowgate Hawks signed striker Kwame Adjei": the player's fact
        return Fact(obj, joined, _without_article(subject))
    held = held_by(" ".join(relation)) if start == 0 and not mark and _kind(obj) == "name" else None
    if held:  # "Oskar Lindahl coaches the Fenwick Falcons": the team's fact, the next coach replaces him
        return Fact(_without_article(obj), held, subject)
    titled = re.fullmatch(r"(?:the|a|an) ([^ ]+(?: [^ ]+)?) of (.+)", subject, re.IGNORECASE)
    if titled and start == 0 and [w.lower() for w in relation] in (["is"], ["was"]) \
            and titled[1].split()[0].lower() not in HEADS:
        # a capitalised relation noun before its subject: "The CEO of Brackwater Analytics is Nadia Ferreira"
        start, subject = len(titled[1].split()) + 2, titled[2]
    if start == 0 and not mark and relation[0].lower() in ("are", "were") and re.match(r"The [A-Z]", subject):
        start, subject = 1, subject[4:]  # "The Harlow Kestrels are coached by": the team is "Harlow Kestrels"
    prefix = words[:start]
    template = " ".join([*prefix, "{}" + mark, *relation]) if prefix or mark else ""
    return Fact(subject, employer_move(_relation(prefix, relation), obj), obj, template)


def _name_then_noun(words: list[str]) -> bool:
    """Named words (inner "of", "de", ...), then at most one lower-case noun: "United States of
    America", "Gaelic football"."""
    if len(words) > 1 and words[-1].isalpha() and words[-1].islower() and words[-1] not in STOPWORDS | FILLERS:
        words = words[:-1]
    return all(_named(w) or w.lower() in CONNECTORS for w in words)


def _kind(text: str) -> Literal["number", "name", "word"]:
    if re.fullmatch(r"[\d.,/ -]+(st|nd|rd|th|s)?", text.strip()):
        return "number"
    return "name" if any(c.isupper() for c in text) else "word"


def _spans(text: str, kind: str, words: int = 6) -> list[str]:
    """The entities of ``kind`` named in the first ``words`` words of an answer, in order. A name
    right before a lower-case word only describes it ("the French army", "Hindu mythology") and is
    dropped, and so are spans of generic words ("the University of [...") and a word cut off after its
    hyphen ("Spanish-")."""
    tokens = re.findall(r"[^\W_][\w'’.&-]*|[^\w\s]", text)
    out: list[str] = []
    current: list[str] = []
    for i, token in enumerate(tokens):
        words -= token[0].isalnum()
        if not token[0].isalnum() or words < 0:
            out, current = [*out, " ".join(current)], []
            if words < 0:
                break
            continue
        word = token.rstrip(".")
        if word.endswith("-"):  # cut off inside a compound ("the helm of the Spanish-"): it names nothing yet
            current = []
            continue
        after = next((t for t in tokens[i + 1:] if t.lower() not in CONNECTORS), "")
        if _named(word) and word.lower() not in GENERIC or word.lower() in CONNECTORS and current and _named(after):
            current.append(word)
        else:
            if current and word.isalpha() and word.islower() and word not in STOPWORDS:
                current = []
            out, current = [*out, " ".join(current)], []
            if kind == "word" and word.isalpha() and word.lower() not in GENERIC | CONNECTORS | FILLERS:
                out.append(word)
        if token.endswith(".") and len(word) > 1:  # a full stop, not an initial
            out, current = [*out, " ".join(current)], []
    out.append(" ".join(current))
    return [s for s in out if s and _kind(s) == kind and not set(s.lower().split()) <= GENERIC | CONNECTORS | HEADS]


def _norm(span: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", span.lower())
    return [w[:5] for w in (words[1:] if words[:1] == ["the"] else words)]


def _same(a: str, b: str) -> bool:
    """One span's words (cut to 5 letters: "India" ~ "Indian") appear in a row in the other's."""
    return _within(*sorted((_norm(a), _norm(b)), key=len))


def _within(x: list[str], y: list[str]) -> bool:
    return bool(x) and any(y[i:i + len(x)] == x for i in range(len(y) - len(x) + 1))


def _misspelt(span: str, subject: str) -> bool:
    """The subject's words (two or more) with one of them a letter off: "Lumin Forge" for "Lumen Forge",
    the model repeating a name it does not know, not naming its object."""
    x, y = _norm(span), _norm(subject)
    return len(x) == len(y) >= 2 and sum(a != b for a, b in zip(x, y)) == 1 \
        and all(a == b or _letter_off(a, b) for a, b in zip(x, y))


def _letter_off(a: str, b: str) -> bool:
    """One letter changed, added or dropped."""
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long = sorted((a, b), key=len)
    return len(long) == len(short) + 1 and any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def _head(span: str, subject: str) -> bool:
    """The subject's head word alone: its last word, or the word before its "of" ("the Wanderers" for
    "Castleford Wanderers", "Bank" for "Bank of Leeds"), the model naming the subject by its short name.
    Its first words may be another entity ("Toyota" in "Toyota Corolla", its maker), so they still count."""
    words = subject.split()
    head = words[words.index("of", 1) - 1] if "of" in words[1:] else words[-1]
    return len(words) >= 2 and _norm(span) == _norm(head)


def _agree(a: str, b: str, a_cut: bool, b_cut: bool) -> bool:
    """:func:`_same`, where a span the token limit may have cut ("the United") is known only up to its
    last word: it agrees with a span inside the words before that ("BMW" in "BMW 20"), or with the
    same span, not with a longer name it may begin ("United States")."""
    if not (a_cut or b_cut):
        return _same(a, b)
    return _norm(a) == _norm(b) or a_cut and _within(_norm(b), _norm(a)[:-1]) \
        or b_cut and _within(_norm(a), _norm(b)[:-1])


def _mentions(answer: str, obj: str) -> bool:
    return obj.lower().strip() in answer.lower()


def decide_fact(fact: Fact, probe: Probe, config: RouterConfig) -> Decision:
    if _mentions(probe.answer, fact.object):
        return Decision("memory", f"the model already answers {probe.answer.strip()!r}; kept in memory as a source",
                        fact, probe)
    said = f"{probe.answer.strip()!r} ({probe.agreement:.0%} of the framings, {probe.specificity:.0%} of made-up subjects differ)"
    needed = config.word_agreement if _kind(probe.answer.strip()) == "word" else config.agreement
    if probe.agreement >= needed and probe.specificity >= config.specificity:
        return Decision("edit", f"the model states {fact.subject!r}'s object: {said}; "
                                f"the weights are rewritten to {fact.object!r}", fact, probe)
    return Decision("memory", f"the model does not state {fact.subject!r}'s object: {said} is a guess; "
                              f"stored in the graph memory", fact, probe)


def classify(update: dict[str, Any], probe: Callable[[Fact], Probe], config: RouterConfig | None = None) -> Decision:
    """``update`` holds ``examples``, ``fact`` or ``text`` (API.md's ``/v1/updates`` body)."""
    config = config or RouterConfig()
    if update.get("examples"):
        return Decision("skill", f"{len(update['examples'])} input/output examples: a skill to learn")
    if update.get("fact"):
        fact = Fact(**{k: str(update["fact"][k]).strip() for k in ("subject", "relation", "object")})
        return decide_fact(fact, probe(fact), config)
    text = str(update.get("text", "")).strip()
    found = sentences(text)
    if len(found) != 1 or len(text) > config.max_statement_chars:
        return Decision("memory", f"a document of {len(found)} sentences: stored in the graph memory")
    fact = parse_statement(found[0])
    if fact is None:
        return Decision("memory", "a statement that is not a simple subject-relation-object fact: stored in memory")
    return decide_fact(fact, probe(fact), config)


CONTROL_SUBJECTS = ("Tomas Vrelk", "Mara Quillon", "Keth Varn", "Anwen Osterby", "the Ulvane",
                    "Orvale Group", "Halbrook Systems", "Quintor Media")
"""Made-up subjects, people and companies: an entity the model names for them too is its default for
the relation ("New York City" after "is headquartered in")."""


def _greedy(model: Any, tokenizer: Any, texts: list[str], tokens: list[int]) -> list[str]:
    """Greedy continuations of ``texts`` (special tokens in them are parsed), the i-th at most
    ``tokens[i]`` tokens, decoded together in one ``KVBatch``: each is the text it gives alone (up to
    float rounding), at a fraction of the time."""
    prompts = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    eos = stop_token_ids(model, tokenizer)
    batch = KVBatch(model)  # as a plain decode: inside the applied weight edits
    logits = batch.join(prompts)
    said: list[list[int]] = [[] for _ in prompts]
    live = list(range(len(prompts)))
    while live:
        going = []
        for n, (i, token) in enumerate(zip(live, logits.argmax(-1).tolist())):
            if token not in eos:
                said[i].append(token)
                if len(said[i]) < tokens[i]:
                    going.append(n)
        batch.keep(going)
        live = [live[n] for n in going]
        if live:
            logits = batch.step([said[i][-1] for i in live])
    return [tokenizer.decode(ids, skip_special_tokens=True) for ids in said]


def chat_request(tokenizer: Any, prompt: str) -> str:
    """The chat request to complete ``prompt``."""
    ask = f"Complete the sentence with a name or a short phrase: {prompt} ..."
    if not getattr(tokenizer, "chat_template", None):
        return ask + "\n"
    return tokenizer.apply_chat_template([{"role": "user", "content": ask}], add_generation_prompt=True, tokenize=False)


def _after_echo(reply: str, prompt: str) -> str:
    """The assistant's completion of ``prompt``, after its echo of the prompt when it repeats it."""
    tail = " ".join(prompt.lower().split()[-2:])
    at = reply.lower().find(tail)
    return reply[at + len(tail):] if at >= 0 else reply


def read_probe(fact: Fact, answers: tuple[str, ...], control: Callable[[str], str]) -> Probe:
    """The rule of :func:`probe_model` on its generated ``answers``; ``control(subject)`` is the
    model's greedy continuation of the fact's prompt with another subject. A name that the token limit
    may have cut (the last words of an answer that stops inside them: "Manchester, United") does not
    agree with a longer one it begins ("United States"; :func:`_agree`)."""
    kind, subject = _kind(fact.object), _norm(fact.subject)
    found = [[s for s in _spans(a, kind)
              if not (_same(s, fact.subject) and len(_norm(s)) >= len(subject) or _misspelt(s, fact.subject)
                      or _head(s, fact.subject))]
             for a in answers]  # the subject repeated (misspelt, or by its head word) names nothing
    cut = {(i, spans[-1]) for i, (a, spans) in enumerate(zip(answers, found))
           if spans and a[-1:].isalnum() and a.endswith(spans[-1].split()[-1])}
    best, support = "", 0
    chat_first = [(len(found) - 1, s) for s in found[-1]] + [(i, s) for i, spans in enumerate(found[:-1]) for s in spans]
    for j, span in chat_first:
        n = sum(any(_agree(span, s, (j, span) in cut, (i, s) in cut) for s in spans) for i, spans in enumerate(found))
        if n > support:
            best, support = span, n
    if not best:
        return Probe(answers[0], 0.0, 1.0, answers)
    differ = sum(not any(_same(best, s) for s in _spans(control(c), kind)) for c in CONTROL_SUBJECTS)
    return Probe(best, support / len(answers), differ / len(CONTROL_SUBJECTS), answers)


def probe_model(model: Any, tokenizer: Any, fact: Fact, tokens: int = 6) -> Probe:
    """What the model states for ``fact.prompt``, decided from what it generates (greedy), not from
    how probable the continuation is.

    The model completes the prompt three ways: as is, after "Fact: ", and as a chat request. In each
    answer's first words, the entities of the object's kind (a capitalised span for "Rome", a number
    for "1987", a content word for "linebacker") are found; the subject repeated is not one, and
    neither is generic text ("about the importance of"). The answer is the entity that most framings
    name (``agreement``, the chat answer first on ties), checked against the made-up
    ``CONTROL_SUBJECTS`` in the same prompt (``specificity``): an entity they get too ("the
    University of California" after "teaches at") is the relation's default, not knowledge of the
    subject. :func:`decide_fact` edits when 2 of 3 framings agree (all 3 for lower-case words) and no
    control gets the entity.
    """
    echo = len(tokenizer(fact.prompt, add_special_tokens=False)["input_ids"])  # the chat reply may repeat the prompt
    framings = [fact.prompt, "Fact: " + fact.prompt, chat_request(tokenizer, fact.prompt)]
    plain, fact_said, reply = _greedy(model, tokenizer, framings, [tokens, tokens, tokens + echo])
    template = fact.template or f"{{}} {fact.relation}"
    controls: dict[str, str] = {}

    def control(subject: str) -> str:  # all made-up subjects in one batch, when an answer is checked
        if not controls:
            texts = [template.replace("{}", c) for c in CONTROL_SUBJECTS]
            controls.update(zip(CONTROL_SUBJECTS, _greedy(model, tokenizer, texts, [tokens] * len(texts))))
        return controls[subject]

    return read_probe(fact, (plain, fact_said, _after_echo(reply, fact.prompt)), control)
