"""Open information extraction: named entities and (subject, relation, object) triples.

Two extractors share one interface (`Extractor.extract(passages) -> list[Extraction]`):
- `rule`: deterministic spans (capitalised names, dates, numbers, quoted titles) and triples
  between consecutive spans of a sentence, the words between them being the relation;
- `llm`: HippoRAG-style one-shot prompts on the hosted model (NER, then triples conditioned on the
  entities), JSON parsed with `json.loads`, grounded in the passage, and merged with `rule` so every
  passage stays linked to its entities even when the model extracts little (see `memory/openie.py`).
Build either by name with `memory.extractors.build_extractor`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Protocol, TypeAlias

from memory.facts import (DAYS, KIN_POSSESSED, MONTHS, MOVES, NAMED_TO_ROLE, POSSESSED_ROLE, TIME_OPENING,
                          employer_move, held_by, normalize_relation, organisation, relation_group, role_of, taken_on)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Tokenizer: TypeAlias = "PreTrainedTokenizerBase"
"""Any Hugging Face tokenizer, slow or fast (transformers is imported only for type checking)."""

Triple = tuple[str, str, str]


def normalize(text: str) -> str:
    """Entity key: lower case, non-alphanumerics to spaces, single spaces (HippoRAG's rule)."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def occurs_in(phrase: str, passage_norm: str) -> bool:
    """True when the normalised phrase occurs in the normalised passage on word boundaries."""
    key = normalize(phrase)
    return bool(key) and f" {key} " in f" {passage_norm} "


@dataclass
class Extraction:
    entities: list[str] = field(default_factory=list)
    triples: list[Triple] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"entities": self.entities, "triples": [list(t) for t in self.triples]}

    @classmethod
    def from_json(cls, data: dict) -> Extraction:
        return cls(list(data["entities"]), [tuple(t) for t in data["triples"]])


def ground(extraction: Extraction, passage: str) -> Extraction:
    """Drop entities and triples whose arguments do not occur in the passage; dedupe."""
    norm = normalize(passage)
    return sanitize(extraction, lambda phrase: occurs_in(phrase, norm))


def sanitize(extraction: Extraction, keep: Callable[[str], bool] = lambda phrase: True) -> Extraction:
    """Drop malformed or duplicate entities and triples, and those with an argument not `keep`."""
    entities = _dedupe(e.strip() for e in extraction.entities if isinstance(e, str) and keep(e))
    triples: list[Triple] = []
    seen = set()
    for t in extraction.triples:
        if not isinstance(t, (list, tuple)) or len(t) != 3 or not all(isinstance(x, str) and x.strip() for x in t):
            continue
        s, r, o = (x.strip() for x in t)
        key = (normalize(s), normalize(r), normalize(o))
        if not all(key) or key in seen or not (keep(s) and keep(o)) or _names_an_argument(key) \
                or _is_a_name(r, entities):
            continue
        seen.add(key)
        triples.append((s, r, o))
    return Extraction(entities, triples)


def _names_an_argument(key: tuple[str, str, str]) -> bool:
    """The relation holds the subject or the object ("Calder Cup" / "The Calder Cup" / "Agnes
    Morrow", a model's malformed triple): it relates nothing."""
    s, r, o = (f" {k} " for k in key)
    return s in r or o in r


def _is_a_name(relation: str, entities: list[str]) -> bool:
    """The relation is a name, not a verb or a role: one of the passage's entities, or Title-case words
    ("Hollin Freight" / "Sunniva Rask" / "Jory Thane", a model's malformed triple)."""
    words = relation.split()
    return relation in entities or (len(words) >= 2 and all(re.fullmatch(r"[A-Z][a-z]+", w) for w in words)
                                    and not {w.lower() for w in words} & _LINKS)


_LINKS = frozenset("by of in at on for to from with as is was are were".split())
"""Words that make a Title-case relation a relation after all ("Founded By")."""


Progress = Callable[[int], None]
"""Called with the count of passages extracted so far, as they finish."""


class Extractor(Protocol):
    name: str

    def extract(self, passages: list[str], progress: Progress | None = None) -> list[Extraction]: ...


# ---- deterministic extractor ----------------------------------------------------------------

_DATE = rf"\b(?:\d{{1,2}} (?:{MONTHS})(?:,? \d{{3,4}})?|(?:{MONTHS}) \d{{1,2}},? \d{{3,4}}|(?:{MONTHS}) \d{{3,4}})\b"
_QUOTED = r"\"([^\"\n]{2,80})\"|“([^”\n]{2,80})”|``([^`'\n]{2,80})''"
_NUMBER = r"\b\d[\d,]*(?:\.\d+)?\b"
_UPPER = "A-Z" + "".join(c for c in map(chr, range(0xC0, 0x250)) if c.isupper())
"""Capitals, Latin-1 and Latin Extended ones included ("Łódź", "Émile", "Øresund")."""
_WORD = rf"[{_UPPER}][\w'’\-]*(?:\.[{_UPPER}][\w'’\-]*)*\.?"
_CONNECT = r"(?:of|the|de|du|da|di|del|der|von|van|la|le|y|on|upon|&)"
_NAME = rf"\b{_WORD}(?:\s+(?:{_CONNECT}\s+)*{_WORD})*"
_PRONOUNS = {"he", "she", "it", "they", "his", "her", "its", "their"}
_STOP = {
    "a", "an", "the", "he", "she", "it", "they", "we", "i", "you", "his", "her", "its", "their", "our",
    "in", "on", "at", "by", "for", "from", "to", "of", "with", "after", "before", "during", "since",
    "and", "but", "or", "as", "if", "when", "while", "this", "that", "these", "those", "there", "then",
    "however", "although", "because", "also", "both", "each", "some", "many", "most", "all", "one",
    "who", "what", "where", "which", "why", "how", "is", "was", "are", "were", "be", "mr", "mrs", "ms", "dr",
}


@dataclass
class _Span:
    start: int
    end: int
    text: str
    kind: str = "name"
    """"title" (quoted), "date", "name" or "number"."""


def _spans(sentence: str) -> list[_Span]:
    taken: list[_Span] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s.start or a >= s.end for s in taken)

    for m in re.finditer(_QUOTED, sentence):
        text = next(g for g in m.groups() if g)
        if re.search(r"[^\W\d_]", text):  # a title has a letter: not ", '4':"
            taken.append(_Span(m.start(), m.end(), text.strip(), "title"))
    for pattern, kind in ((_DATE, "date"), (_NAME, "name"), (_NUMBER, "number")):
        for m in _month_apart(re.finditer(pattern, sentence), pattern == _NAME):
            text = m.group(0).rstrip(".") if pattern == _NAME else m.group(0)
            words = text.split()
            while words and words[0].lower() in _STOP:  # "The Blue Mill" -> "Blue Mill" everywhere
                words.pop(0)
            while words and words[-1].lower() in _STOP:
                words.pop()
            if not words:
                continue
            text = re.sub(r"['’]s$", "", " ".join(words))  # "Port Averne's" names Port Averne
            start = m.start() + m.group(0).find(words[0])
            if free(start, start + len(text)):
                timed = kind == "name" and re.fullmatch(f"{MONTHS}|{DAYS}", text)  # "held every August", "on Friday"
                if kind == "name" and not timed and re.match(r" family\b(?!\s+of\b)", sentence[start + len(text) :]) \
                        and re.search(r"\bthe\s+$", sentence[:start]):
                    text += " family"  # "owned by the Pemberton family": the family, not a person "Pemberton"
                taken.append(_Span(start, start + len(text), text, "date" if timed else kind))
    return _numbered(sentence, _fields_joined(sentence, sorted(taken, key=lambda s: s.start)))


_FIELDS = frozenset("Art Arts Design Science Sciences Technology Engineering Music Drama Dance Medicine Law Business "
                    "Economics Commerce Trade Industry Culture Sport Sports Health Education Research Agriculture "
                    "Mining Forestry Fisheries Communications Media Film Television Humanities Letters Mathematics "
                    "Languages Literature Theatre Architecture Planning Finance Tourism Environment Energy".split())
"""Fields a name joins with "and": "College of Art and Design", "Ministry of Trade and Industry"."""


def _fields_joined(sentence: str, spans: list[_Span]) -> list[_Span]:
    """Names cut at an "and" between two fields made whole: "National College of Art" + "Design"."""
    out: list[_Span] = []
    for s in spans:
        last = out[-1] if out else None
        if last and last.kind == s.kind == "name" and sentence[last.end : s.start] == " and " and s.text in _FIELDS \
                and re.search(r"\bof\s+(?:\w+,?\s+)*(\w+)$", last.text) and last.text.split()[-1] in _FIELDS:
            out[-1] = _Span(last.start, s.end, sentence[last.start : s.end], "name")
        else:
            out.append(s)
    return out


_MONTH_ON = re.compile(rf"(?:{MONTHS})\s+(?:on|upon)\s+")
"""A month and the place after it, which the name pattern joins like "Stoke on Trent": "held each July on
Lake Geneva"."""
_ON_DAY = re.compile(rf"\s+(?:on|upon)\s+(?:{DAYS})\W*$")
"""A day after a name, which the name pattern joins too: "parted company with Piotr Zielinski on Friday"."""
_A_MONTH, _A_DAY, _A_NAME = re.compile(MONTHS), re.compile(DAYS), re.compile(_NAME)


def _month_apart(matches: Iterator[re.Match], names: bool) -> Iterator[re.Match]:
    """The matches, a name that opens with a month and "on" taken as the month and the name after it,
    and one that ends with "on" and a day as the name and the day."""
    for m in matches:
        head = _MONTH_ON.match(m.group(0)) if names else None
        if head:
            yield _A_MONTH.match(m.string, m.start())
            m = _A_NAME.match(m.string, m.start() + head.end())
        tail = _ON_DAY.search(m.group(0)) if names else None
        if tail:
            yield _A_NAME.match(m.string, m.start(), m.start() + tail.start())
            m = _A_DAY.search(m.string, m.start() + tail.start())
        yield m


def _numbered(sentence: str, spans: list[_Span]) -> list[_Span]:
    """A small number after "the" and right before a name is part of it: "won the 24 Hours of Le Mans"
    (not a count, "won 2 ACTRA Awards", nor a year, "in 1994 Lars Heding founded ...")."""
    out: list[_Span] = []
    for span in spans:
        last = out[-1] if out else None
        if last and last.kind == "number" and span.kind == "name" and re.fullmatch(r"\d{1,3}", last.text) \
                and sentence[last.end : span.start] == " " and re.search(r"\bthe $", sentence[: last.start], re.I):
            out[-1] = _Span(last.start, span.end, sentence[last.start : span.end], "name")
        else:
            out.append(span)
    return out


def _verb(word: str) -> bool:
    """A copula, "has"/"had", or a past form: what opens a later clause ("... and is a subsidiary of")."""
    return word in _COPULAS or word in ("has", "had") or word in _IRREGULAR or bool(re.fullmatch(r"[a-z]+ed", word))


def _relation(between: str) -> str:
    words = re.findall(r"[\w'’\-]+", between)
    if words and words[0] in ("'s", "’s"):
        words.pop(0)  # "X's mayor is Y": "mayor is"
    while words and words[-1].lower() in ("the", "a", "an"):
        words.pop()
    later = [i for i, w in enumerate(words[:-1]) if i > 0 and w == "and" and _verb(words[i + 1])
             and not _verb(words[i - 1]) and not re.fullmatch(r"[a-z-]+en|born", words[i - 1])
             and words[i - 1] not in _PARTICIPLES]
    if later:  # "makes frozen seafood and is a subsidiary of": the clause that reaches B, not "written and directed by"
        words = words[later[-1] + 1 :]
    latin = all(re.fullmatch(r"[0-9A-Za-z\u00c0-\u024f'’\-]+", w) for w in words)  # not "Bengali: ঋত্বিক"
    return " ".join(words) if 0 < len(words) <= 10 and latin else ""


_IRREGULAR = frozenset("became left won led ran took went made held built wrote sold bought taught met gave began "
                        "grew sang drew spoke fought brought".split())
"""Past tenses a coordinated verb may take without "-ed" ("... and became ...")."""
_MODALS = frozenset("can could will would may might must should has have had".split())
"""Verbs a coordinated clause may open with that carry neither "-ed" nor "-s" ("... and can carry")."""
_BARE = frozenset("in on at since from until by".split())
"""Prepositions that alone relate no name to a date or number."""
_COPULAS = frozenset("is was are were".split())
"""What a date or number never is: "X (born 1980) is Welsh" says nothing of 1980."""
_COORDINATED = re.compile(r"(?:(?:with|for|during)\s+(?:[\w'-]+\s+){1,4}?)?"
                          r"(and|but|then|to)\s+(?:(?:later|then|also|soon|eventually|now|still|[a-z]+ly)\s+)?"
                          r"(([a-z]+)\b.*)")
"""A verb coordinated with the actor's, maybe after a phrase: "A with her two children and writes in" B."""


def _coordinated(rel: str) -> str | None:
    """The actor's relation in a verb coordinated with its own ("and joined B": "joined", "to join
    B": "joins"), or None when ``rel`` is no such clause ("and the B")."""
    verb = _COORDINATED.fullmatch(rel)
    if not verb or verb[3] in ("a", "an", "the") or not (
            verb[1] == "to" or verb[3].endswith(("ed", "s")) or verb[3] in _IRREGULAR | _MODALS):
        return None
    return verb[2] if verb[1] != "to" else re.sub(r"^([a-z]+?)(s|sh|ch|x|o)?\b", _third_person, verb[2])


def _third_person(verb: re.Match) -> str:
    """"join" -> "joins", "teach" -> "teaches": the infinitive after "to" as the subject's verb."""
    return verb[0] + ("es" if verb[2] else "s")


_SUBJECT_PRONOUN = re.compile(r"\b(he|she|they)\b", re.IGNORECASE)
_TITLED = re.compile(r"^\W*(?:the|a|an)\s+([a-z][a-z -]{0,40}?\s+of)(?:\s+(?:the|a|an))?\s*$", re.IGNORECASE)
"""Words before a sentence's first name that make the relation: "The chief executive of" X is Y,
"The head coach of the" X is Y."""
_SEAT = re.compile(r"(capital|headquarters|head office)\s+of", re.IGNORECASE)
_SEAT_MOVED = re.compile(r"(?:(?:was|were|has been|have been)\s+)?(?:moved|relocated|transferred)\s+to", re.IGNORECASE)
"""A seat that moves, said of the seat: "The capital of A was moved to B" is A's "moved its capital to" B."""
_SEAT_OWNED = re.compile(rf"(?:'s|'|’s|’)\s+(capital|headquarters|head office)\s+{_SEAT_MOVED.pattern}",
                         re.IGNORECASE)
"""The same said with a possessive: "A's headquarters moved to B"."""


def _pronoun(sentence: str, spans: list[_Span]) -> re.Match | None:
    """The pronoun that stands for the previous subject: a pronoun opening the sentence, after an
    adverb of time at most ("She painted ...", "Today it is owned by ..."), or "he", "she" or "they"
    before any name of it ("In 2019 he joined ...")."""
    first = re.match(r"\W*(?:(?:today|now|currently|later|afterwards|since then|then|however|meanwhile),?\s+)?(\w+)",
                     sentence, re.IGNORECASE)
    if first and first[1].lower() in _PRONOUNS:
        return re.compile(r"\w+").search(sentence, first.start(1))
    match = _SUBJECT_PRONOUN.search(sentence)
    if match and not any(s.kind in ("name", "title") and s.start < match.start() for s in spans):
        return match
    return None


_IT = re.compile(r"\bit(?=\W*$)")


def _held_it(sentence: str) -> re.Match | None:
    """A sentence-final "it" after a holder's verb ("B now directs it", ``memory.facts.held_by``)."""
    it = _IT.search(sentence)
    words = sentence[: it.start()].split() if it else []
    return it if any(held_by(" ".join(words[-n:])) for n in range(1, min(len(words), 5) + 1)) else None


_THERE = re.compile(r"\b(lived|worked|died|studied|stayed|settled|taught)\s+there\b")
"""A deed done at the subject before a person's sentence: "The poet Robert Burns lived there"."""
_BARE_ROLES = ("singer|vocalist|guitarist|bassist|drummer|pianist|keyboardist|saxophonist|trumpeter|violinist|"
               "cellist|rapper|producer|songwriter|composer|lyricist|conductor|architect|engineer|designer|"
               "director|screenwriter|playwright|novelist|writer|author|poet|journalist|editor|photographer|"
               "painter|sculptor|artist|actor|actress|comedian|chef|entrepreneur|businessman|businesswoman|"
               "banker|investor|lawyer|physician|surgeon|scientist|physicist|chemist|biologist|geologist|"
               "astronomer|mathematician|economist|historian|professor|coach|manager|captain|chairman|"
               "politician|bishop|priest")
"""Roles written right before a name without an article: "by singer Casey Drummond"."""
_ROLE_MODIFIER = r"(?:(?:lead|rhythm|bass|backing|principal|chief|head)\s+)?"
_MEMBER_ROLES = frozenset("singer vocalist guitarist bassist drummer pianist keyboardist saxophonist trumpeter "
                          "violinist cellist rapper producer songwriter composer lyricist conductor architect "
                          "engineer designer director screenwriter playwright author editor coach manager captain "
                          "chairman".split())
"""Of those, the roles a person holds in the thing they made or joined: "formed by singer A" (its singer)."""
_PERSONS = ("poet|writer|author|novelist|painter|artist|composer|singer|musician|actor|actress|architect|engineer|"
            "scientist|physicist|chemist|philosopher|politician|king|queen|emperor")
_PERSON_NOUN = re.compile(rf"\b(?:the|a|an)\s+(?:{_PERSONS})\s+$", re.IGNORECASE)
"""A noun for a person right before a name: "The poet Robert Burns" is no "It"."""
_PLAYERS = "player|striker|forward|midfielder|defender|goalkeeper|keeper|winger|playmaker"
_PLAYER_NOUN = re.compile(rf"\b(?:{_PLAYERS})\s+$", re.IGNORECASE)
"""A player's position right before a name, with no article: "have sold striker Nadia Korsakova"."""
_PERSON_NOUNS = frozenset(f"{_PERSONS}|{_PLAYERS}".split("|"))
"""The nouns of `_PERSON_NOUN` and `_PLAYER_NOUN`: what a sentence-opening "The <noun>" names a person by."""
_YEARS_ROLE = re.compile(r"\W*The(?=\s+(\d{4}|current|present|reigning)\s+[a-z]+(?:\s+[a-z]+)?"
                         r"\s+(?:is|was)\s)")
"""A role of one year or time, said of the subject before it: "The 2024 winner was" B, "The current
holder is" B (the one name of its sentence)."""

_OPENING_VERBS = "born|founded|established|formed|opened|built|raised|educated"
_BY_PARTICIPLE = r"(?:[a-z]+ed|built|written|made|drawn|led|run)\s+by"
_PARTICIPLE_OPENING = re.compile(rf"^\W*(?:({_OPENING_VERBS})\s+(in|on|at)"
                                 rf"|({_BY_PARTICIPLE})(?:\s+(?:the|a|an)\s+[a-z]+)?)\s+([^,;()]{{1,60}}),",
                                 re.IGNORECASE)
"""A participle that opens a sentence, said of the subject after it: "Founded in 1898, X is ...",
"Designed by the engineer Walter Pryce, it ..."."""
_OPENING = re.compile(
    rf"^\W*(?:(?:in|since|from|after|before|during|until|by|between)\s+(?:the\s+)?(?:early\s+|late\s+|mid-?)?"
    rf"(?:{_DATE}|\d{{3,4}}s?)(?:\s+(?:to|and|until)\s+(?:{_DATE}|\d{{3,4}}))?(?=\s+[a-z])"
    rf"|(?:in|since|after|before|during|until|following|throughout|under|with|{_OPENING_VERBS}\s+(?:in|on|at))"
    rf"(?:\s+[^\s,;()]+){{1,4}},|{_BY_PARTICIPLE}(?:\s+[^\s,;()]+){{1,6}},"
    rf"|[^,;()]{{1,60}},(?=\s*(?:he|she|they)\s)|{TIME_OPENING.pattern}"
    r"|(?:after|following)\s+(?:[a-z]+\s+){0,2}(?:years?|months?|decades?|seasons?|spells?|stints?)"
    r"\s+(?:at|with|in|as)\s+[^,;()]{1,60},)\s*",
    re.IGNORECASE)
"""An adverbial that opens a sentence before its subject: a time ("Since 1990 the foundry ...", "From
2010 to 2014 he ..."), a phrase of four words at most up to a comma ("After the war, the company ...",
"Born in Cork, she ...", "Designed by the engineer Y, it ..."), any phrase up to a comma before a
pronoun ("A veteran of Bengali cinema, she ..."), a ``TIME_OPENING`` ("Last spring X ..."), or a
time spent somewhere ("After six years at Ellery Freight, X ...")."""


def _participle_triples(said: str, sentence: str, spans: list[_Span], referent: str | None) -> list[Triple]:
    """What an opening participle says of the subject after it ("Founded in 1898, X ...": X "founded
    in" 1898; "Born in Cork, she ...": the pronoun's ``referent`` "born in" Cork)."""
    opening = _PARTICIPLE_OPENING.match(said)
    if not opening or sentence is said:
        return []
    told = [s for s in _spans(said[: opening.end()]) if opening.start(4) <= s.start]
    pronoun = re.match(r"(?:he|she|they|it)\b", sentence.lstrip(), re.IGNORECASE)
    first = next((s for s in spans if s.kind in ("name", "title")), None)
    if not pronoun and (first is None or sentence[first.end :].lstrip().startswith(",")):
        return []  # "Born in Christchurch, New Zealand, X ...": which name is the subject is not clear
    subject = referent if pronoun else first.text
    relation = f"{opening[1]} {opening[2]}" if opening[1] else opening[3]
    return [(subject, relation.lower(), told[0].text)] if told and subject else []


_COMMON_OPENING = re.compile(rf"[{_UPPER}][a-z]{{3,}}(?:tion|sion|ment|ness|ally|ently|ously|ively|antly)")
"""A capitalised word that opens a sentence as a common noun or an adverb, no name: "Construction began
in 1959", "Traditionally, the club ..." (not "France", "Sicily", "Florence"; nor "Transition is a novel")."""


def _named_spans(sentence: str) -> list[_Span]:
    """The sentence's spans (:func:`_spans`), less a one-word ``_COMMON_OPENING`` that opens it."""
    spans = _spans(sentence)
    if spans and spans[0].kind == "name" and not sentence[: spans[0].start].strip(" \t\"'(") \
            and _COMMON_OPENING.fullmatch(spans[0].text) \
            and not re.match(r"\s+(?:is|was)\s+(?:a|an|the)\b", sentence[spans[0].end :]):  # "Transition is a novel"
        return spans[1:]
    return spans


_CLAUSE = re.compile(r"\s*,?\s*(?:and|but)\s+(the\s+[a-z]+\s+.*)")
"""A clause of its own about "the <noun>" between two spans: "Construction began in 1959 and the bridge
was opened by" Queen Elizabeth II."""


def _without_opening(sentence: str) -> str:
    """The sentence with an opening adverbial blanked out (offsets kept), so the subject opens it."""
    match = _OPENING.match(sentence)
    return " " * match.end() + sentence[match.end():] if match else sentence


_DEFINITE = re.compile(rf"^\W*the\s+([a-z]+)(?=['’]s\b|\s+(?:is|was|are|were|has|had|[a-z]+ed|[a-z]+s|"
                       rf"{'|'.join(sorted(_IRREGULAR | _MODALS))})\b)", re.IGNORECASE)
"""A sentence that opens with "The <noun>" before its verb or a possessive: "The dam was designed by ...",
"The company's chief executive is ...", "The ensemble performs at ...", "The publisher will open ..."."""
_PAST = r"[a-z]+ed|built|made|held|written|won|set|begun|led|sold|bought|drawn|given|taken|sung|run"
"""A verb's past form before a date: regular, or one of the irregular ones Wikipedia dates."""
_CLASS = re.compile(r"^\s*(?:is|was|are|were)\s+(?:a|an|the)\s+((?:[\w-]+\s+){0,3}?)([a-z]+)\s*"
                    r"(?:$|[,.;(]|\b(?:in|of|on|at|near|for|from|by|that|which|who|with|based|located|founded"
                    rf"|known|and|{_PAST})\b)")
"""What a name is said to be in "<name> is a <adjectives> <noun>": "Marrow Lake is a reservoir in ...",
"Hollin Freight is a shipping company headquartered in ..."."""


_BUSINESSES = frozenset("company firm manufacturer maker carmaker automaker brewery distillery airline publisher "
                        "retailer bank insurer conglomerate corporation business shipbuilder studio label supplier "
                        "operator developer producer subsidiary chain".split())
_SETTLEMENTS = frozenset("town city village port settlement municipality suburb borough".split())
_ENSEMBLES = frozenset("band trio duo quartet quintet sextet ensemble orchestra choir".split())
_KINDS_OF: dict[str, frozenset[str]] = {
    "company": _BUSINESSES, "firm": _BUSINESSES, "business": _BUSINESSES,
    "group": _BUSINESSES | _ENSEMBLES,
    "town": _SETTLEMENTS, "city": _SETTLEMENTS, "village": _SETTLEMENTS, "port": _SETTLEMENTS,
    "band": _ENSEMBLES | {"group"},
    "book": frozenset({"novel", "memoir", "biography", "collection"}),
    "film": frozenset({"movie", "documentary", "feature"}),
    "series": frozenset({"drama", "sitcom", "comedy", "show", "programme", "program", "serial", "soap"}),
    "show": frozenset({"drama", "sitcom", "comedy", "series", "programme", "program", "serial", "soap"}),
}
"""What a general noun may stand for: "The company" for a name said to be a manufacturer (or any
"-maker" or "-builder": "The firm" for a clockmaker)."""


def _definite(sentence: str, known: list[tuple[str, str | None]]) -> tuple[re.Match, str] | None:
    """A sentence-opening "The <noun>" and the name it stands for: the latest name of the passage
    ending or opening with that noun ("Tessary Dam" for "The dam", "Lake Orrin" for "The lake"), else
    the latest said to be one ("Marrow Lake is a reservoir": "The reservoir"), else to be one of its
    kinds ("X is an aircraft manufacturer": "The company")."""
    match = _DEFINITE.match(sentence)
    if not match:
        return None
    noun = match[1].lower()
    kinds = _KINDS_OF.get(noun, frozenset())
    opening = match[1].islower()  # "The lake", not "The Houston Rockets are"
    for test in (lambda name, kind: name.split()[-1].lower() == noun or opening and name.split()[0].lower() == noun,
                 lambda name, kind: kind == noun,
                 lambda name, kind: kind in kinds or "maker" in kinds and (kind or "").endswith(("maker", "builder"))):
        found = next((name for name, kind in reversed(known) if test(name, kind)), None)
        if found:
            return match, found
    return None


_CLUB = re.compile(r"\s(?:United|City|Town|Rovers|Athletic|Wanderers|Rangers|Albion|County|FC|AFC|Hotspur|Harriers|"
                   r"Dynamo|Sporting|Olympic)$")
"""Last words of a club's name: what "The club" (team, side) after a sentence it opened stands for."""


def _sole_definite(sentence: str, previous: list[str], opener: str | None,
                   people: set[str]) -> tuple[re.Match, str] | None:
    """A sentence-opening "The company" (or firm, or business) and the one name, no person, of the
    sentence before: "Harlow Mills announced a new strategy on Tuesday. The company has moved ..." (not
    after "John Smith founded Acme.", which names two); "The company" or another business's noun and the
    organisation that opened the sentence before ("Calloway Books is leaving Fenwick. The publisher will
    open ...", not "The studio" after "Joseph Kosinski was announced to direct."); "The forward" (or
    another person's noun) and the one person the sentence before named ("X have sold striker Nadia
    Korsakova. The forward signed ..."); "The club" (team, side) and the club that opened it ("Brennan City
    dismissed Karl Weiss. The club has hired ..."). A film's or a city's is not read so: the name before is
    as often its director's or a neighbour's ("It was directed by Paul Aaron. The film ...")."""
    match = _DEFINITE.match(sentence)
    noun = match[1] if match else None
    if noun in ("company", "firm", "business") and len(previous) == 1 and previous[0] not in people:
        return match, previous[0]
    if opener is not None and (noun in _BUSINESSES and organisation(opener) and opener not in people
                               or noun in ("club", "team", "side") and _CLUB.search(opener)):
        return match, opener
    if noun in _PERSON_NOUNS and len(named := [name for name in previous if name in people]) == 1:
        return match, named[0]
    return None


_BUYER = re.compile(r"\W*the\s+(?:new\s+owner|buyer|purchaser|acquirer)(?:\s*,\s*|\s+(?:is|was)\s+)", re.IGNORECASE)
"""The owner named after a sale: "X has sold A. The buyer, B, took control in March" (B owns A)."""


def _kinds(sentence: str, spans: list[_Span]) -> list[tuple[str, str | None]]:
    """The sentence's names, each with the noun it is said to be ("reservoir"), or None."""
    out = []
    for s in spans:
        if s.kind in ("name", "title"):
            kind = _CLASS.match(re.sub(r"^\s*\([^()]*\)", "", sentence[s.end :]))  # "X (officially Y) is a ..."
            out.append((s.text, kind[2].lower() if kind else None))
    return out


_DATED = re.compile(rf"((?:(?:is|was|are|were)\s+)?(?:{_PAST})(?:\s+(?:up|out))?)\s+(?:in|on)$")
"""The verb before a date: "founded in" 1962 by B."""
_AGENT = re.compile(rf"by(?:\s+([a-z]+ing))?(?:\s+(?:the|a|an)\s+[a-z][a-z -]*|\s+{_ROLE_MODIFIER}(?:{_BARE_ROLES}))?")
"""What comes between the date and the agent: "by", "by the architect", "by singer", or "by damming" (a means)."""


def _dated_by(subject: str, before: str, date: _Span, agent: _Span, between: str) -> Triple | None:
    """"A, founded in 1962 by B" (``before`` the date, ``between`` it and B): A's "founded by" B, the
    date left out ("created in 1936 by damming B": "created by damming", "formed in 1962 when the B":
    "formed when", "recorded in 1957 for B": "recorded for"); A may be a pronoun's or a "The <noun>"'s name."""
    if date.kind not in ("date", "number") or agent.kind != "name":
        return None
    verb, link = _DATED.search(_relation(before)), _relation(between)
    by = _AGENT.fullmatch(link)
    if verb and (joined := re.fullmatch(r"(when|for)(?: the)?", link)):
        return subject, f"{verb[1]} {joined[1]}", agent.text  # "formed in 1962 when the Orrin Dam was completed"
    return (subject, _by_relation(verb[1], by), agent.text) if verb and by else None


def _by_relation(verb: str, by: re.Match) -> str:
    """The relation of an ``_AGENT`` match after a deed's verb: "founded by", "created by damming"."""
    return f"{verb} by" + (f" {by[1]}" if by[1] else "")


_PLACED = re.compile(rf"(?:(?:is|was|are|were)\s+)?(born|{_PAST})(?:\s+(?:in|on|every|each|during))?$")
"""The verb before a date that a place may follow: "born 3 March 1948 in" Bergen, "held every August in"."""
_PLACE_AFTER = re.compile(r"(?:in|at|near|on)(?:\s+(?:a|an|the)\s+[a-z]+\s+(?:in|of|near|at))?")
"""What comes between the date and the place: "in", "at a shipyard in", "in the town of"."""


def _dated_in(subject: str, before: str, date: _Span, place: _Span, between: str) -> Triple | None:
    """"A (born 3 March 1948 in Bergen)": A's "born in" Bergen; "A was built in 1958 at a shipyard in
    C": A's "built at a shipyard in" C; the date left out."""
    if date.kind not in ("date", "number") or place.kind != "name":
        return None
    verb, where = _PLACED.search(_relation(before)), _PLACE_AFTER.fullmatch(_relation(between))
    return (subject, f"{verb[1]} {where[0]}", place.text) if verb and where else None


_DEED_PLACE = re.compile(rf"(?:^|\s)((?:is\s+|was\s+|are\s+|were\s+)?(?!located|situated|based|buried)(?:{_PAST}))"
                         r"\s+(?:in|at)$")
"""A deed's verb before its place: "founded in" Dublin (not where a thing is: "located in")."""


def _placed_by(deed: Triple, place: _Span, agent: _Span, between: str) -> Triple | None:
    """"A was founded in Dublin by the poet B" (``deed``: A's "founded in" Dublin): A's "founded by" B,
    not Dublin's "by the poet" B."""
    verb, by = _DEED_PLACE.search(deed[1]), _AGENT.fullmatch(_relation(between))
    if deed[2] != place.text or place.kind != "name" or agent.kind != "name" or not verb or not by \
            or re.match(r"\d", deed[0]):
        return None
    return deed[0], _by_relation(verb[1], by), agent.text


_ALSO_IS = re.compile(r"\s*,?\s*and\s+((?:the|a|an)\s+(?:[a-z][\w-]*\s+){1,3}?(?:of|for))\s*")
"""A second description after the place of a first: "X is a stadium in Dundee, Scotland, and the home
ground of" B."""


def _dated_after(last: Triple, a: _Span, b: _Span, between: str) -> Triple | None:
    """A year right after the place of the sentence's last fact dates its deed: "earned her doctorate at
    the London School in 2008" after (X, "earned her doctorate at", London School): X's "earned her
    doctorate in" 2008; "born in Leipzig in 1875": "born in" 1875; after a deed's fact, also "since"
    and a noun or two after the name: "has served as mayor of Uppsala since 2020": "has served as mayor
    since" 2020, "made his debut for the Chile national team in 2021": "made his debut in" 2021."""
    verb = re.fullmatch(r"(.+?)\s+(?:at|in|on|of|for|to|with)", last[1])
    when = re.fullmatch(r"\s+(in|on|since)\s+", between)
    deed = re.match(r"(?:[a-z]+(?:ed|s)|is|was|are|were|has|had|have)\b", last[1]) or last[1].split()[0] in _IRREGULAR
    team = re.fullmatch(r"\s+(?:[a-z]+(?<!ed)(?<!ing)\s+){1,2}(in|on)\s+", between)  # "for the Chile national team in"
    if team and deed and not re.match(r"(?:is|was|are|were)\b", last[1]) and last[1].split()[-1] in ("for", "to"):
        when = team
    if verb and when and last[2] == a.text and a.kind == "name" and (deed or last[1].split()[-1] in _BARE) \
            and (b.kind == "date" or b.kind == "number" and re.fullmatch(r"\d{4}", b.text)):
        return last[0], f"{verb[1]} {when[1]}", b.text
    return None


def _also_is(sentence: str, actor: str | None, a: _Span, b: _Span) -> Triple | None:
    """"X is a stadium in Dundee, and the home ground of B": X's "is the home ground of" B."""
    also = _ALSO_IS.fullmatch(sentence[a.end : b.start])
    at = sentence.rfind(actor, 0, a.start) if actor and a.text != actor else -1
    copula = re.match(r"\s+(is|was|are|were)\s+(?:a|an|the)\s", sentence[at + len(actor) :]) \
        if also and at >= 0 else None
    return (actor, f"{copula[1]} {also[1]}", b.text) if copula and b.kind == "name" else None


_FUNCTION_WORDS = frozenset("for in of on at by to from with and or but as that which who whose since after before "
                            "during until is was are were has had".split())
"""Words after a name that end it as a name, not as a word describing a noun ("an Academy Award for ...")."""


def _adjectival(sentence: str, spans: list[_Span]) -> set[int]:
    """Indexes of the spans that describe the noun after them, from an "a"/"an" on: "a 1974 American
    comedy film", "an Irish sprinter" (not "an Academy Award for ...")."""
    out: set[int] = set()
    for i, span in enumerate(spans):
        if i in out or not re.search(r"\b(?:a|an)\s+$", sentence[: span.start]):
            continue
        k = i
        while k + 1 < len(spans) and not sentence[spans[k].end : spans[k + 1].start].strip():
            k += 1
        noun = re.match(r"\s+([a-z][\w-]*)", sentence[spans[k].end :])
        if noun and noun[1] not in _FUNCTION_WORDS:
            out.update(range(i, k + 1))
    return out


_DEMONYM = re.compile(r"(?:[A-Z][a-z]+[ -])*[A-Z][a-z]*(?:an|ese|ish|ch|sh|i|ic|ss|ek)")
"""A people's adjective: "Hungarian", "Irish", "Dutch", "South Korean", "British-American"."""
_IS_A = re.compile(r"\s*(is|was|are|were)\s+(?:a|an)\s+(?:[\w-]+\s+)*", re.IGNORECASE)


_ROLE_DEMONYM = re.compile(r"(?:(?:North|South|East|West)\s+)?[A-Z][a-z]+(?:an|ese|ish|ch|i|ic)(?<!Church)(?<!Reich)")
"""A people's adjective of one word (or a compass point and one): "Kenyan", "South Korean", not "Episcopal Church"."""


_REGION_OF = re.compile(r"(?:province|state|county|region|city|town|village|island|territory|district)s?\s+of\s+")
"""A region of a people's country: "the Canadian province of" Manitoba."""


def _roles_named(sentence: str, spans: list[_Span], triples: list[Triple]) -> list[Triple]:
    """A sentence's triples with a people's adjective between "the" and a role before a name taken as
    that name's nationality: "held by the Kenyan runner Paul Kiprono" is held by Paul Kiprono, who is
    Kenyan (not by "Kenyan", whose "runner" is Paul Kiprono); "a lake in the Canadian province of
    Manitoba" is in Manitoba."""
    named: dict[str, str] = {}
    peoples: list[Triple] = []
    for a, b in zip(spans, spans[1:]):
        role = re.fullmatch(r"\s+((?:[a-z][\w-]*\s+){1,2})", sentence[a.end : b.start])
        if not (role and b.kind == "name" and _ROLE_DEMONYM.fullmatch(a.text)
                and re.search(r"\bthe\s+$", sentence[: a.start])):
            continue
        if not _FUNCTION_WORDS & set(role[1].split()):
            named[a.text] = b.text
            peoples.append((b.text, "nationality is", a.text))
        elif _REGION_OF.fullmatch(role[1]):
            named[a.text] = b.text  # "in the Canadian province of Manitoba": in Manitoba, and no people's
    if not named:
        return triples
    kept = [(s, r, o if r.startswith("nationality") else named.get(o, o)) for s, r, o in triples if s not in named]
    return kept + peoples


def _nationality(subject: str, between: str, span: _Span) -> Triple | None:
    """"X is a Hungarian violinist": X's "nationality is" Hungarian."""
    copula = _IS_A.fullmatch(between)
    return (subject, f"nationality {copula[1].lower()}", span.text) \
        if copula and span.kind == "name" and _DEMONYM.fullmatch(span.text) else None


_DESCRIBED = re.compile(r"^(?:is|was|are|were)\s+(?:a|an|the)\s+(?:[\w'’-]+\s+){1,6}?(?:who|which|that)\s+(?=\w)")
"""A description before a clause that relates the name itself: "was a British engineer who" designed B."""


_AND_VERB = re.compile(rf"[\sa-z-]*\band\s+(is|was|are|were|[a-z]+ed|{'|'.join(sorted(_IRREGULAR))})\b")
"""A verb coordinated with the actor's after lower-case words: "owned by the B family and closed in"."""


_APPOSITION = re.compile(r"\s*,\s*(?:the|a|an|its|his|her|their)\s+[^,;()]{1,40},\s*(?=(?:and|but)\s)")
"""A description of A between commas before a verb coordinated with the actor's: "A, the town's patron
saint, and" ends with B."""


_ON_THE = re.compile(r"on\s+(?:the\s+)?(?:banks?|shores?|island|border|coast|edge|outskirts|slopes?)\s+(?:of|with)\b")
"""Where a place lies, after the places it is in: "in Vermont, United States, on the banks of" B."""
_PRONOUN_CLAUSE = re.compile(r"(?:where|when|then|after which)\s+(?:he|she|they)\s+([a-z].*)"
                             r"|(?:[a-z]+\s+){0,3}?(?:and|but)\s+(?:he|she|it|they)\s+([a-z].*)"
                             r"|(?:[a-z]+\s+)?(?:before|after|until)\s+(?:he|she|it|they)\s+([a-z].*)")
"""A clause whose own subject is a person's pronoun: "A, where she developed" B."""


def _pair(sentence: str, a: _Span, b: _Span, first: bool, actor: str | None) -> Triple | None:
    """The triple of two consecutive spans: the words between them as the relation; "The chief
    executive of" A "is" B as "chief executive of"; a coordinated verb ("A and joined B", "A to join
    B"), or a verb after a clause between commas ("A, who lives in C, works for B"), as the ``actor``'s;
    a role from its holder's side ("A is the CEO of B") as B's fact."""
    titled = _TITLED.match(sentence[: a.start]) if first else None
    if titled and sentence[a.end : b.start].strip().lower() in _COPULAS:
        return a.text, titled[1], b.text
    if titled and (seat := _SEAT.fullmatch(titled[1])) and _SEAT_MOVED.fullmatch(sentence[a.end : b.start].strip()):
        return a.text, f"moved its {seat[1].lower()} to", b.text  # "The capital of A was moved to B": A's move
    if owned := _SEAT_OWNED.fullmatch(sentence[a.end : b.start].strip()):
        return a.text, f"moved its {owned[1].lower()} to", b.text  # "A's headquarters moved to B"
    rel = re.sub(r"^(?:which|who|that)\s+", "", _relation(sentence[a.end : b.start]))  # "A, which was founded by B"
    rel = _DESCRIBED.sub("", rel)  # "A was a British engineer who designed B": A "designed" B
    rel = _ROLE_FOR.sub(r"\1 \2", rel)  # "plays as a goalkeeper for B": "plays for" (the role is ``_ROLE_AS``'s)
    rel = _BY_ROLE_END.sub("by", rel)  # "joined by keyboardist A": "joined by" (the role is ``_by_roles``')
    apposition = _APPOSITION.match(sentence, a.end, b.start)
    verb = _coordinated(_relation(sentence[apposition.end() : b.start])) if apposition else None
    if verb and actor and a.text != actor:
        return actor, verb, b.text  # "It honours A, the town's patron saint, and ends with B"
    if rel.startswith("whose "):
        rel = rel[len("whose ") :]  # "A, whose president is B": A's "president is" fact
    joined = _AND_VERB.match(sentence, a.end, b.start)
    if actor and a.text != actor and joined and rel.split()[:1] == [joined[1]]:
        return actor, rel, b.text  # "It carries the A92 road and is maintained by B", "… and closed in": the actor's
    if b.kind in ("date", "number") and rel.lower() in _BARE or a.kind in ("date", "number") and rel.split()[:1] \
            and rel.split()[0].lower() in _BARE | _COPULAS:
        return None  # "founded by A in 1994": the date is the founding's, not A's; nor is A 1994's, nor is 1994 A
    clause = _PRONOUN_CLAUSE.fullmatch(rel)
    if clause and actor and a.text != actor:
        # "she joined A, where she developed B"; "flows for 38 kilometres before it joins B"
        verb = clause[1] or clause[2] or clause[3]
        if verb in ("joins", "reaches", "enters", "meets") and re.search(r"\bflow(?:s|ed)\b", sentence[: a.start]):
            verb = "flows into"  # "flows for 38 kilometres before it joins B": a river's mouth
        return actor, verb, b.text
    moved = _MOVED.search(sentence, 0, a.start) if rel == "from" else None
    if moved and actor and a.text != actor:
        return actor, f"{moved[1]} {a.text} from", b.text  # "joined A from B": not A's "from" B
    if rel == "to" and actor and a.text != actor and (origin := _MOVED_FROM.search(sentence, 0, a.start)):
        return actor, f"{origin[1]} to", b.text  # "was transferred from A to B": not A's "to" B
    if normalize_relation(rel) in ("calls", "call", "made", "makes") and _CALLS_HOME.match(sentence, b.end):
        return a.text, "lives in", b.text  # "A now calls B home"
    if rel == "to" and _SOLD.search(sentence, 0, a.start):
        return a.text, "was sold to", b.text  # "X sold A to B": B owns A now
    if rel == "to" and a.kind == "name" and (sent := _SENT.search(sentence, 0, a.start)):
        return a.text, f"{sent[1].lower()} to", b.text  # "X transferred A to B": A plays for B now
    if rel == "to" and (handed := _HANDED.search(sentence, 0, a.start)):
        return a.text, _HANDED_ROLE.get(handed[1].lower(), "is led by"), b.text  # "handed leadership of A to B"
    if b.kind == "name" and _REOPENED.fullmatch(rel):
        return a.text, "relocated to", b.text  # "The gallery reopened in B": its move
    if actor and a.text != actor and (kin := _WITH_KIN.fullmatch(rel)):
        return actor, f"{kin[1].lower()} of", b.text  # "A lives in C with her husband, B": A's "husband of" B
    if a.kind == b.kind == "name" and _NAMING.fullmatch(rel) and (named := NAMED_TO_ROLE.match(sentence, b.end)):
        return a.text, f"{named['role']} of", b.text  # "X named B its new CEO": X's "CEO of" B
    if actor and a.text != actor and (then := re.fullmatch(r"and\s+(.+)", rel)) and _NAMING.fullmatch(then[1]) \
            and (named := NAMED_TO_ROLE.match(sentence, b.end)):
        return actor, f"{named['role']} of", b.text  # "X sacked A and brought in B as head coach": X's coach is B
    if NAMED_TO_ROLE.fullmatch(sentence, a.end, b.end) \
            or b.kind in ("date", "number") and NAMED_TO_ROLE.match(sentence, a.end):
        return None  # "X named A its new CEO (in 2024)": the role is X's fact about A, not A's "its new" CEO
    if a.kind == b.kind == "name" and rel.lower() in _COPULAS and (kin := KIN_POSSESSED.match(sentence, b.end)):
        return b.text, f"{kin['kin'].lower()} of", a.text  # "A is B's brother": B's "brother of" A
    possessed = POSSESSED_ROLE.match(sentence, a.end) or KIN_POSSESSED.match(sentence, a.end)
    if possessed and actor and a.text != actor \
            and (verb := _coordinated(_relation(sentence[possessed.end() : b.start]))):
        return actor, verb, b.text  # "A is B's head coach and lives in C": A lives in C
    if a.kind == b.kind == "name" and (joined := taken_on(rel)):
        return b.text, joined, a.text  # "The Hawks signed striker B": B "signed with" the Hawks
    if a.kind == b.kind == "name" and (held := held_by(rel)):
        return b.text, held, a.text  # "A coaches the Falcons": the Falcons' "is coached by" A
    if (rel == "for" or _FOR_POST.fullmatch(rel)) and actor and a.text != actor \
            and _LEFT.search(sentence, 0, a.start):
        return actor, "joined", b.text  # "left A for B", "left A for a post at B": the actor joined B
    if rel.split()[:1] == ["as"] and actor and a.text != actor and _REPLACED.search(sentence, 0, a.start) \
            and (held := role_of(f"{rel[3:]} {b.text}")):
        return held[1], f"{held[0]} of", actor  # "X replaced A as chief executive of B": B's chief executive is X
    if rel.split()[:1] == ["as"] and _REPLACED_BY.search(sentence, 0, a.start) \
            and (held := role_of(f"{rel[3:]} {b.text}")):
        return held[1], f"{held[0]} of", a.text  # "A was succeeded by X as CEO of B": B's chief executive is X
    if actor and a.text != actor and _SUCCEEDED_BY.fullmatch(rel) \
            and (quit_role := _STEPPED_DOWN.search(sentence, 0, a.start)) \
            and (held := role_of(f"{quit_role['role']} {a.text}")):
        return held[1], f"{held[0]} of", b.text  # "A stepped down as CEO of B and was succeeded by X": B's CEO is X
    if _BY_ROLE_LISTED.fullmatch(rel):
        return None  # "by singer A and guitarist B": both are the actor's (``_by_roles``), not A's
    role = role_of(f"{rel} {b.text}") if a.kind == "name" else None
    if a.kind == "name" and role is None and (tail := POSSESSED_ROLE.match(sentence, b.end)):
        role = role_of(f"{rel} {sentence[b.start : tail.end()]}")  # "A is B's head coach": B's "head coach of" A
    if role:
        return role[1], f"{role[0]} of", a.text  # "A is the CEO of B": B's CEO is A
    after_comma = sentence[a.end : b.start].lstrip().startswith(",")
    if actor and a.text != actor and after_comma and _ON_THE.match(rel):
        return actor, rel, b.text  # "A is a town in C, United States, on the banks of B": the town's
    if actor and a.text != actor and after_comma and re.match(r"[a-z]+ing\b", rel):
        return actor, rel, b.text  # "He was elected in 2018, succeeding A": the actor succeeded A
    at = sentence.find(actor) if actor else -1
    if at >= 0 and a.text != actor and after_comma and "," in sentence[at : a.start] \
            and (verb := re.match(r"(?:(?:now|still|currently|later)\s+)?([a-z]+(s|ed)\b.*)", rel)):
        return actor, verb[1], b.text  # the verb after a clause between commas: "A, who lives in C, (now) works for B"
    if actor and a.text != actor and (own := _OWN_CLAUSE.match(sentence, a.end, b.start)):
        return actor, _relation(own[1]), b.text  # "A was recorded in Oslo and her husband is B"
    verb = _coordinated(rel)
    if verb and actor and a.text != actor:
        return actor, verb, b.text
    if a.kind in ("date", "number") and b.kind in ("date", "number"):
        return None  # "from 1990 to 1998": a span of time, no fact of either end
    return (a.text, rel, b.text) if rel else None


_LISTED = re.compile(r"\s*(?:,\s*(?:and\s+|or\s+)?|and\s+|or\s+|&\s+)(?:the\s+)?", re.IGNORECASE)
"""What joins the items of a list: "A, B and C", "A or B"."""


def _listed(sentence: str, spans: list[_Span], b: _Span) -> bool:
    """``b`` is an item of a list that goes on from the span before it to an "and", "or" or "&": "A, B
    and C", not a place and where it is ("in County Kerry, Ireland")."""
    k = spans.index(b) - 1
    while k + 1 < len(spans) and (joiner := _LISTED.fullmatch(sentence[spans[k].end : spans[k + 1].start])):
        if re.search(r"\b(?:and|or)\b|&", joiner[0], re.IGNORECASE):
            return True
        k += 1
    return False


def _depth(sentence: str, at: int) -> int:
    """How many parentheses are open at ``at``."""
    return max(0, sentence.count("(", 0, at) - sentence.count(")", 0, at))


def _outer(sentence: str, spans: list[_Span], i: int) -> _Span:
    """The span before ``spans[i]`` outside any parenthesis after it, ending where the parentheses close."""
    depth, k = _depth(sentence, spans[i].start), i - 1
    while k > 0 and _depth(sentence, spans[k].start) > depth:
        k -= 1
    if k == i - 1 or _depth(sentence, spans[k].start) > depth:
        return spans[i - 1]
    return replace(spans[k], end=sentence.rfind(")", 0, spans[i].start) + 1)


def _owner(sentence: str, spans: list[_Span], i: int, described: list[_Span]) -> _Span:
    """``_outer``, or past the people's adjectives before it: "X is a Dutch maker founded in 1952 by
    Y" is X's founding, not Dutch's."""
    prev = _outer(sentence, spans, i)
    k = spans.index(prev) if prev in spans else -1
    while prev in described and k > 0:
        k -= 1
        prev = spans[k]
    return prev


def _placed_before(sentence: str, spans: list[_Span], date: _Span,
                   described: list[_Span]) -> tuple[_Span, str] | None:
    """For a date right after "<place> in" (or "<place>, <region>, in"): the name before the place and
    the words from it to the place ("X is a clockmaker founded in" London in 1821), so the verb before
    the place dates it."""
    k = spans.index(date) if date in spans else -1
    if k < 2 or date.kind not in ("date", "number"):
        return None
    if not re.fullmatch(r"\s*,?\s*in\s*", sentence[spans[k - 1].end : date.start]):
        return None
    while k > 2 and spans[k - 2].kind == "name" \
            and re.fullmatch(r"\s*,\s*", sentence[spans[k - 2].end : spans[k - 1].start]):
        k -= 1  # the region after the place: "founded in Austin, Texas, in 1999"
    place = spans[k - 1]
    owner = _owner(sentence, spans, k - 1, described)
    return (owner, sentence[owner.end : place.start]) if owner.kind in ("name", "title") and owner is not place \
        else None


def _parenthesised(sentence: str, spans: list[_Span], a: _Span, b: _Span) -> tuple[int, _Span] | None:
    """The index of the name before the parentheses that hold ``a`` and close before ``b``, and that
    name ending where they close: "Ana Sousa (born 1960 in Lisbon) is a Portuguese painter" says Ana
    Sousa is one, not Lisbon; "X (Arabic: Y) (IATA: Z) is ..." says it of X."""
    if not _depth(sentence, a.start) or _depth(sentence, b.start) or ")" not in sentence[a.end : b.start]:
        return None
    k = next((k for k in range(len(spans) - 1, -1, -1) if spans[k].end <= a.start
              and spans[k].kind in ("name", "title") and not _depth(sentence, spans[k].start)), None)
    return None if k is None else (k, replace(spans[k], end=sentence.rfind(")", a.end, b.start) + 1))


_PARTICIPLES = _IRREGULAR | frozenset("written known given taken drawn sung begun run".split())


def _last_clause(between: str) -> str | None:
    """The relation a description too long for one still gives: its last clause, from a "who",
    "which" or "that" ("footballer who plays as a defender for": "plays as a defender for"), else
    from its last participles ("animated comedy film written and directed by": "written and directed by")."""
    words = re.findall(r"[\w'’\-]+", between)
    cut = max((k + 1 for k, w in enumerate(words) if w.lower() in ("who", "which", "that")), default=None)
    if cut is None:
        participle = [k > 0 and (w.endswith("ed") or w in _PARTICIPLES) for k, w in enumerate(words)]
        cut = max((k for k, p in enumerate(participle) if p), default=None)
        while cut is not None and cut >= 2 and words[cut - 1] == "and" and participle[cut - 2]:
            cut -= 2  # "written and directed by"
    return _relation(" ".join(words[cut:])) or None if cut is not None else None


_DEEDS = ("discovered invented developed designed studied composed patented pioneered coined synthesised synthesized "
          "isolated translated taught played wrote won makes made produces produced manufactures manufactured "
          "publishes published sells sold brews brewed releases released builds built operates operated "
          "exports exported grows grew").split()
_COMMON_OBJECT = re.compile(rf"\b({'|'.join(_DEEDS)})\s+(?:the\s+)?([a-z][a-z-]*(?:\s+[a-z][a-z-]*)?)"
                            rf"(?=\s*(?:[.,;)]|$)|\s+(?:and|in|at|for|with|from|during|while|until)\b)")
"""A deed whose object is a common noun, which no span reads: "who discovered moraite.", "she studied medicine at"."""
_ROLE_AS = re.compile(r"\b(plays|played|serves|served|works|worked)\b(?:\s+[^.;,]*?)?\s+as\s+(?:an?\s+|the\s+)?"
                      r"([a-z][a-z-]*(?:\s+[a-z][a-z-]*)?)"
                      r"(?=\s*(?:[.,;)]|$)|\s+(?:and|in|at|for|with|from|during|until|on)\b)")
"""A role someone plays or serves as: "plays for Molde FK as a goalkeeper" ("plays as" goalkeeper)."""
_ROLE_FOR = re.compile(r"^(plays|played)\s+as\s+(?:an?\s+|the\s+)?(?:[\w-]+\s+){1,3}?"
                       r"(for|at|with|in)$")
"""A role between the verb and its organisation: "plays as a goalkeeper for" B is "plays for" B."""
_MOVED = re.compile(r"\b(joined|moved to|transferred to|signed for|signed with|returned to)\s+(?:the\s+)?$")
"""A move whose origin follows its destination: "joined A from B"."""
_LEFT = re.compile(r"\b(?:left|quit)\s+(?:the\s+)?$")
"""A move whose destination follows its origin: "left A for B" (B's "joined")."""
_MOVED_FROM = re.compile(rf"\b((?:{MOVES})(?:\s+(?:its|his|her|their)\s+"
                         r"(?:head\s+)?[a-z]+|\s+(?:house|home|jobs|employers|teams|clubs))?)\s+from\s+(?:the\s+)?$")
"""A move whose origin comes first and destination after "to": "was transferred from A to B", "moved its
capital from A to B", "moved house from A to B" (the actor "transferred to" B, "moved its capital to" B,
"moved house to" B)."""
_CALLS_HOME = re.compile(r"\s+(?:(?:his|her|their|its)\s+)?home\b")
"""What follows the place in "A calls B home", "A has made B her home": A lives in B."""
_SOLD = re.compile(r"\b(?:sold|sale\s+of)\s+(?:the\s+)?$")
"""What comes before the thing sold in "X sold A to B", "X completed the sale of A to B"."""
_SALE = re.compile(r"(?:has\s+|had\s+)?(?:sold|bought|acquired|purchased)")
"""A sale said by the seller or the buyer: "X sold A; its new owner is B" (A's)."""
_BOUGHT_IT = re.compile(r"\s+(?:has\s+|have\s+|had\s+)?(?:bought|acquired|purchased|took\s+over|snapped\s+up)\s+it\b")
"""A buyer's verb and "it" after a name: "(X has changed hands:) Highland Cask bought it (from Y)"."""


def _bought_it(sentence: str, names: list[_Span]) -> Triple | None:
    """The sentence's first name bought by the name that opens a clause after a colon and buys "it":
    "Glenmore Distillery has changed hands: Highland Cask bought it from Ardent Spirits"."""
    for name in names[1:]:
        if re.search(r":\s*$", sentence[: name.start]) and _BOUGHT_IT.match(sentence, name.end):
            return names[0].text, "was bought by", name.text
    return None


_SENT = re.compile(r"\b(transferred|loaned|traded)\s+(?:the\s+)?$")
"""What comes before the player sent in "X transferred A to B" (A's "transferred to" B)."""
_HANDED = re.compile(r"\b(?:hand(?:s|ed)|pass(?:es|ed)|turn(?:s|ed))\s+(?:over\s+|on\s+)?(?:the\s+)?"
                     r"(leadership|running|control|reins|management|captaincy|chairmanship|chair)\s+of\s+(?:the\s+)?$")
"""What comes before the thing handed on in "A handed over leadership of X to B" (X's holder is B now)."""
_HANDED_ROLE = {"captaincy": "is captained by", "chairmanship": "is chaired by", "chair": "is chaired by"}
"""The relation a handed-on role gives the thing; any other noun leads it ("is led by")."""
_FOR_POST = re.compile(r"for\s+(?:a|an|the)\s+(?:new\s+)?(?:post|job|position|role|place|professorship)"
                       r"(?:\s+as\s+[a-z]+(?:\s+[a-z]+)?)?\s+(?:at|with)")
"""Where the destination of "left A for ..." is a post: "left A for a post at B" (the actor joined B)."""
_REOPENED = re.compile(r"(?:has\s+|was\s+)?(?:re-?opened|re-?located)\s+(?:in|at)")
"""A thing that opened again somewhere else: "X reopened in B" (X "relocated to" B)."""
_WITH_KIN = re.compile(r"with\s+(?:his|her|their)\s+(husband|wife|spouse|partner)\s*,?")
"""A spouse named after "with": "A lives in C with her husband, B"."""
_NAMING = re.compile(r"(?:(?:has|have|had|now|just|[a-z]+ly)\s+|(?:voters|residents|citizens|members|shareholders|fans|"
                     r"councillors|delegates|directors|board)\s+)*"
                     r"(?:named|appointed|made|elected|chose|picked|hired|recruited|installed|brought in|welcomed|"
                     r"selected|tapped|unveiled)",
                     re.IGNORECASE)
"""Verbs with which an organisation gives someone a role: "X named B its new CEO", "X has appointed B as
chief executive", "Dunmere voters chose B as their new mayor"."""
REPLACED_VERBS = r"replaced|succeeded|(?:took|takes|has taken) over from"
"""Verbs with which a successor takes a role over from its holder."""
_REPLACED = re.compile(rf"\b(?:{REPLACED_VERBS})\s+$")
"""A role taken over from its holder: "X replaced A (took over from A) as chief executive of B"."""
_REPLACED_BY = re.compile(r"\b(?:replaced|succeeded)\s+by\s+$")
"""The same said from the former holder's side: "A was succeeded by X as CEO of B"."""
_STEPPED_DOWN = re.compile(r"\b(?:stepped down|resigned|retired|left|quit)\s+as\s+"
                           r"(?P<role>(?:the\s+)?(?:[a-z-]+\s+){1,3}of)\s+(?:the\s+)?$")
"""A role its holder gave up, before what it is of: "A stepped down as chief executive of" B."""
_SUCCEEDED_BY = re.compile(r",?\s*(?:and\s+)?(?:was|has been|had been|is)\s+(?:succeeded|replaced)\s+by")
"""The successor named after a role given up: "(A stepped down as CEO of B) and was succeeded by" X."""
_BY_ROLE = re.compile(rf"\b(?:{_PAST}|album|song|single|novel|book|film|work)(?:\s+(?:in|on)\s+[^,;.]{{1,30}}?)?"
                      rf"\s+by\s+{_ROLE_MODIFIER}({_BARE_ROLES})\s+$")
"""A role after a deed or a work: "formed in 2011 by singer", "an album by saxophonist"."""
_BY_ROLE_END = re.compile(rf"\bby\s+{_ROLE_MODIFIER}(?:{_BARE_ROLES})$")
_NEXT_ROLE = rf"{_ROLE_MODIFIER}({_BARE_ROLES}|(?!(?:an)?other\b|n?either\b|former\b|later\b)[a-z]+(?:er|ist|or))"
"""A role that goes on a list of them: the known ones, or any agent noun ("and fiddler")."""
_AND_ROLE = re.compile(rf"\s*(?:,\s*(?:and\s+)?|and\s+){_NEXT_ROLE}\s+")
_BY_ROLE_LISTED = re.compile(rf"and\s+{_NEXT_ROLE}")
"""What is left between two such names as a relation: "and guitarist"."""
_OWN_WORK = re.compile(r"\b(?:his|her|their)\s+((?:research|work|studies)\s+(?:on|into))\s+(?:the\s+)?"
                       r"([a-z][a-z-]*(?:\s+[a-z][a-z-]*)?)(?=\s*(?:[.,;)]|$)|\s+(?:and|in|at|for|with|from)\b)")
"""The actor's own field: "for her research on battery materials" ("research on" battery materials)."""
_BY_COMMON = re.compile(rf"\b((?:is|was|are|were)\s+(?:{_PAST}|sunk|destroyed|damaged|killed|eaten))\s+by\s+an?\s+"
                        r"((?:[A-Z][a-z]+\s+)?[a-z][a-z-]*)(?=\s*(?:[.,;)]|$)|\s+(?:off|in|at|on|near|during|and)\b)")
"""A deed whose agent is a common noun: "was sunk by a German submarine" ("was sunk by" German submarine)."""
_KNOWN_FOR = re.compile(r"\b(known\s+for)\s+(?:his|her|its|their)\s+([a-z][a-z-]*(?:\s+[a-z][a-z-]*){0,2}?)"
                        r"(?=\s*(?:[.,;)]|$)|\s+(?:and|in|at|since|from)\b)")
"""What the actor is known for, its own: "known for its covered bridge" ("is known for" covered bridge)."""


_NOT_OBJECTS = _STOP | _FUNCTION_WORDS | frozenset(
    "around together abroad home well there here again away back one two three four five six seven eight nine ten "
    "several few both once twice up out".split())
"""Function words, adverbs and counts after a deed, which are no object of it."""


def _named_before(spans: list[_Span], at: int, described: list[_Span]) -> list[_Span]:
    """The names and titles that end before ``at``, people's adjectives left out."""
    return [s for s in spans if s.end <= at and s.kind in ("name", "title") and s not in described]


def _right_after(prefix: str, opening: int | None) -> bool:
    """Only the opening that stands for the actor (ending at ``opening``: "It", "The company") is before."""
    return opening is not None and not prefix[opening:].strip()


_WHERE_AFTER = re.compile(r"\s*,\s*where\s+(?:he|she|they)\s+(died|lived|worked|settled|retired|studied|taught)"
                          r"(?:\s+(?:in|on)\s+[\w ]{1,20}?)?\s*(?:[.;,]|$)")
"""A place's clause that tells what the actor did there: "later moved to Zurich, where he died (in 1977)"."""


def _where_clauses(sentence: str, spans: list[_Span], actor: str | None) -> list[Triple]:
    """"A later moved to Zurich, where he died.": A "died in" Zurich."""
    return [(actor, f"{clause[1]} in", s.text) for s in spans
            if actor and s.kind == "name" and s.text != actor and (clause := _WHERE_AFTER.match(sentence, s.end))]


def _by_roles(sentence: str, spans: list[_Span], actor: str | None) -> list[Triple]:
    """"The band was formed by singer A and fiddler B": the actor's "singer is" A, "fiddler is" B."""
    if not actor or any(s.text == actor and _BY_ROLE.search(sentence, 0, s.start) for s in spans):
        return []  # the actor is one of those named ("The collective was founded by pianist A")
    out: list[Triple] = []
    member = False  # the name before is a member, named by its role
    for prev, s in zip([None, *spans], spans):
        role = _BY_ROLE.search(sentence, 0, s.start) if s.kind == "name" else None
        if role is None and member and s.kind == "name":
            role = _AND_ROLE.fullmatch(sentence, prev.end, s.start)  # the list goes on: "... and fiddler B"
        member = role is not None and (role[1] in _MEMBER_ROLES or role.re is _AND_ROLE)
        if member:
            out.append((actor, f"{role[1]} is", s.text))
    return out


_DEEDS_READ: tuple[tuple[re.Pattern, str], ...] = (
    (_COMMON_OBJECT, "{}"), (_ROLE_AS, "{} as"), (_OWN_WORK, "{}"), (_KNOWN_FOR, "is known for"), (_BY_COMMON, "{} by"))
"""The deeds ``_common_objects`` reads, each with its relation made from the match's verb."""


def _common_objects(sentence: str, spans: list[_Span], described: list[_Span], actor: str | None,
                    opening: int | None = None) -> list[Triple]:
    """Triples of the ``_DEEDS_READ`` deeds: done by the name right before the verb (or before its
    "who"), or by the ``actor`` when a person's pronoun, or the opening (ending at ``opening``) that
    stands for the actor ("The company makes frozen seafood"), is right before it."""
    out = []
    for m, relation in [(m, relation) for pattern, relation in _DEEDS_READ for m in pattern.finditer(sentence)]:
        words = m[2].split()
        if words[0] in _NOT_OBJECTS or words[-1] in _NOT_OBJECTS or words[-1].endswith("ly"):
            continue  # "played professionally", "played ten seasons"
        prefix = sentence[: m.start()]
        names = _named_before(spans, m.start(), described)
        if m.re in (_OWN_WORK, _KNOWN_FOR) or re.search(r"\b(?:he|she|they)\s+$", prefix, re.IGNORECASE) \
                or _right_after(prefix, opening):
            doer = actor
        elif names and re.fullmatch(r"\s*(?:,?\s*who\s+)?", prefix[names[-1].end :]) is not None \
                or names and re.search(r"\bwho\s+$", prefix):
            doer = names[-1].text
        elif opening is not None and re.search(r"\band\s+$", prefix) and (m[1].endswith("s") or m.re is _BY_COMMON):
            doer = actor  # "It was founded by A and builds ferries": a singular verb is the opening's
        else:
            doer = None
        if doer:
            out.append((doer, relation.format(m[1]), m[2]))
    return out


_NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty"
                 "|a hundred")
_UNITS = ("metres|meters|metre|meter|m|kilometres|kilometers|kilometre|kilometer|km|centimetres|centimeters|cm|"
          "feet|foot|ft|miles|mile|mi|yards|yard|inches|inch")
_DIMENSIONS = {"tall": "height", "high": "height", "long": "length", "wide": "width", "deep": "depth"}
_MEASURE = re.compile(
    r"\b(?:is|was|are|were|stands|stood|rises|rose|measures|measured|reaches|reached)\s+"
    r"((?:about|around|approximately|roughly|some|nearly|almost|over|under|more than|less than|up to)\s+)?"
    rf"(?:{_NUMBER}|\b(?:{_NUMBER_WORDS})\b)[\s-]+(?:{_UNITS})\b(?:\s*\([^()]{{0,40}}\))?"
    r"\s+(tall|high|long|wide|deep|in (height|length|width|depth|diameter))\b", re.IGNORECASE)
"""A size said of something: "is about four metres tall", "stands 12 m (39 ft) high", "is 410 km long"."""
_RUN = re.compile(
    r"\b(?:flows|flowed|runs|ran|stretches|stretched|extends|extended)\s+(?:[a-z-]+\s+)?for\s+"
    r"((?:about|around|approximately|roughly|some|nearly|almost|over|more than)\s+)?"
    rf"({_NUMBER}|\b(?:{_NUMBER_WORDS})\b)[\s-]+(?:{_UNITS})\b", re.IGNORECASE)
"""A length told by how far something runs: "flows south-east for 27 kilometres"."""


def _measures(sentence: str, spans: list[_Span], described: list[_Span], actor: str | None,
              opening: int | None = None) -> list[Triple]:
    """Sizes (``_MEASURE``) as "height is" and the like: of the name right before the verb (past a
    parenthesis), or of the ``actor`` after a pronoun, the opening that stands for it (ending at
    ``opening``: "The viaduct is 410 metres long"), "and" or a clause between commas ("It was raised
    during the Bronze Age and is about four metres tall"); a verb coordinated after the size is the
    measured thing's too ("is 5.2 kilometres long and opened in" 2009)."""
    out = []
    for m in [*_MEASURE.finditer(sentence), *_RUN.finditer(sentence)]:
        prefix = sentence[: m.start()]
        names = _named_before(spans, m.start(), described)
        if names and re.fullmatch(r"\s*(?:\([^()]*\)\s*)?", prefix[names[-1].end :]):
            owner = names[-1].text
        elif re.search(r"(?:\b(?:it|he|she|they|and|but)|,)\s*$", prefix, re.IGNORECASE) \
                or _right_after(prefix, opening):
            owner = actor
        else:
            continue
        if m.re is _RUN:
            size, dimension = sentence[m.start(1) if m[1] else m.start(2) : m.end()], "length"
        else:
            size = sentence[m.start(1) if m[1] else m.start() + m[0].find(" ") + 1 : m.start(2)].strip()
            dimension = _DIMENSIONS.get(m[2].lower(), m[3] or "")
        size = re.sub(r"\s*\([^()]*\)$", "", size)  # "12 m (39 ft)": the first unit is the passage's own
        if not owner:
            continue
        out.append((owner, f"{dimension} is", size))
        after = next((s for s in spans if s.start >= m.end()), None)
        verb = re.fullmatch(r"\s+and\s+(.+)", sentence[m.end() : after.start]) if after else None
        if verb and (relation := _relation(verb[1])) and re.match(r"[a-z]+(?:s|ed)\b", relation):
            out.append((owner, relation, after.text))
    return out


_OWN_PASSIVE = re.compile(rf"the\s+((?:[a-z][\w-]*\s+){{1,3}}(?:is|was|are|were)\s+(?:{_PAST})\s+by)"
                          r"(?:\s+the(?:\s+[\w-]+){0,3})?\s*")
"""A later clause about a thing of the actor's that no earlier name is: "…, and the course record is held
by (the Kenyan runner)" B."""
_OWN_CLAUSE = re.compile(r",?\s+and\s+(?:its|his|her|their)\s+((?:[a-z][\w-]*\s+){1,3}(?:is|was|are|were))\s*$")
"""A later clause that names the actor's own thing: "…, and its mayor is" B, "and her husband is" B."""


def _referent_triples(sentence: str, referent: str, start: int, spans: list[_Span],
                      described: list[_Span]) -> list[Triple]:
    """The referent's triples with the first span after its pronoun (ending at ``start``), through
    the people's adjectives before it: "It is an American film directed by Y": American, then Y; a role it
    gives as a named subject's ("The club has hired B as head coach")."""
    out = []
    for after in (s for s in spans if s.start >= start):
        between = sentence[start : after.start]
        if after in described:
            if triple := _nationality(referent, between, after):
                out.append(triple)
            continue
        clause = _OWN_CLAUSE.search(between)  # "Its economy depends on tourism, and its mayor is" B: "mayor is"
        rel = _relation(clause[1] if clause else between)
        named = NAMED_TO_ROLE.match(sentence, after.end) if rel and _NAMING.fullmatch(rel) else None
        if named and after.kind == "name":
            out.append((referent, f"{named['role']} of", after.text))  # "The club has hired B as head coach"
        elif rel:
            out.append((referent, rel, after.text))
        break
    return out


def _sentences(passage: str) -> list[str]:
    """The passage cut after ".", "!", "?" or ";" and at line breaks, but not inside parentheses that
    close soon after: "X (Bengali: Y; born c. 1966) is ..." stays one sentence."""
    out, start = [], 0
    for cut in re.finditer(r"(?<=[.!?;])\s+|\n+", passage):
        if cut[0].strip(" \t") or not _depth(passage[start : cut.start()], cut.start() - start) \
                or ")" not in passage[cut.end() : cut.end() + 120].split("(")[0]:
            out.append(passage[start : cut.start()])
            start = cut.end()
    return [*out, passage[start:]]


class RuleExtractor:
    """Deterministic OpenIE-lite: spans, and triples between consecutive spans of a sentence; a
    pronoun in subject place stands for the previous sentence's first name, and a sentence-opening
    "The <noun>" for the name it describes (``_definite``)."""

    name = "rule"
    version = 82
    """Part of the extraction cache's key, so passages extracted by older rules are extracted again."""

    def extract(self, passages: list[str], progress: Progress | None = None) -> list[Extraction]:
        out = [self._one(p) for p in passages]
        if progress:
            progress(len(out))
        return out

    def _one(self, passage: str) -> Extraction:
        entities: list[str] = []
        triples: list[Triple] = []
        subject: str | None = None
        thing: str | None = None  # the latest subject that is no person: what an "It" may stand for
        people: set[str] = set()
        known: list[tuple[str, str | None]] = []
        held: str | None = None  # the last thing the previous sentence's triples reach: what a held "it" stands for
        sold_held: str | None = None  # that thing when the previous sentence sold or bought it
        previous: list[str] = []  # the names of the sentence before
        opener: str | None = None  # the name that opened it
        person: str | None = None  # the latest name a "he" or "she" stood for
        for said in _sentences(passage):
            sentence = _without_opening(said)
            if held and (it := _held_it(sentence)):
                sentence = f"{sentence[: it.start()]}{held}{sentence[it.end() :]}"  # "B now directs it": the institute
            held, sold, sold_held = None, sold_held, None
            spans = _named_spans(sentence)
            entities += [s.text for s in (spans if sentence is said else _named_spans(said))]
            pronoun, referent = _pronoun(sentence, spans), subject
            if pronoun and sold and pronoun[0].lower() == "its" and re.match(r"\s+new\s", sentence[pronoun.end() :]):
                referent = sold  # "X sold A; its new owner is B": A's
            elif pronoun and referent in people and pronoun[0].lower() in ("it", "its"):
                referent = thing  # "The poet Robert Burns lived there. It is now owned by B": the farm
            elif pronoun and referent and pronoun[0].lower() in ("he", "she", "his", "her"):
                if organisation(referent):  # "Cresswell Labs confirmed that Dalia Moreno is leaving. She will join ..."
                    referent = person or next((name for name in previous if not organisation(name)), referent)
                people.add(referent)
                person = referent
            people.update(s.text for s in spans if _PERSON_NOUN.search(sentence, 0, s.start)
                          or _PLAYER_NOUN.search(sentence, 0, s.start))
            if pronoun is None and subject and (year := _YEARS_ROLE.match(sentence)) and spans \
                    and (spans[0].start == year.start(1) or not year[1].isdigit() and len(spans) == 1):
                # "The 2024 winner was B": the subject's "2024 winner was" B; "The current holder is B"
                pronoun, spans = year, spans[1:] if year[1].isdigit() else spans
            if pronoun is None and (found := _definite(sentence, known)
                                    or _sole_definite(sentence, previous, opener, people)):
                pronoun, referent = found
                subject = referent  # "The academy closed in 1900. It is now ...": the academy
            previous = [s.text for s in spans if s.kind in ("name", "title")]
            opener = spans[0].text if spans and spans[0].kind == "name" and not sentence[: spans[0].start].strip() \
                else None
            if sold and (buyer := _BUYER.match(sentence)) and spans and spans[0].start == buyer.end():
                triples.append((sold, "was sold to", spans[0].text))  # "X has sold A. The buyer, B, ...": B owns A
            if not spans:
                if pronoun and referent:  # "It brews pale ale."
                    triples += _common_objects(sentence, [], [], referent, pronoun.end())
                continue
            triples += _participle_triples(said, sentence, spans, subject)
            first_triple = len(triples)
            told: tuple[int, str] | None = None  # where a clause "and the <noun> ..." starts, and its name
            known += _kinds(sentence, spans)
            adjectival = _adjectival(sentence, spans)
            # a year before a noun says nothing of itself ("a 1974 film directed by Y"), a people's name
            # only its nationality; the names on either side relate across both
            described = [s for i, s in enumerate(spans) if i in adjectival and s.kind == "name"]
            spans = [s for i, s in enumerate(spans) if i not in adjectival or s.kind == "name"]
            if referent and pronoun:
                triples += _referent_triples(sentence, referent, pronoun.end(), spans, described)
            names = [s for s in spans if s.kind in ("name", "title") and s not in described]
            lead = next((s for s in spans if s.kind not in ("date", "number")), None)
            actor = referent if pronoun else lead.text if lead is not None and lead.kind == "name" else None
            for i, (a, b) in enumerate(zip(spans, spans[1:])):
                adjective = a
                while a in described and i > 0:
                    i, a = i - 1, spans[i - 1]  # "X is an American film directed by Y": X's, not American's
                if a in described:
                    continue
                if outer := _parenthesised(sentence, spans, a, b):
                    i, a = outer  # the name before the parenthesis, its words after it: "A (born 1960 in C) is a B"
                if b in described and (triple := _nationality(a.text, sentence[a.end : b.start], b)):
                    triples.append(triple)
                    continue
                if pronoun and a.end <= pronoun.start() < b.start:
                    continue  # "In 2019 he joined X": the date is not the one who joined
                if pronoun and referent and pronoun.end() <= a.start and (
                        i == 0 or spans[i - 1].end <= pronoun.start()):
                    owner, start = referent, pronoun.end()  # "It was founded in 1962 by B"
                elif i > 0 and (prev := _owner(sentence, spans, i, described)).kind in ("name", "title"):
                    owner, start = prev.text, prev.end  # past a parenthesis: "A (born in C) died on ..."
                else:
                    owner, start = None, 0
                before, between = sentence[start : a.start], sentence[a.end : b.start]
                dated = (_dated_by(owner, before, a, b, between) or _dated_in(owner, before, a, b, between)) \
                    if owner else None
                if dated is None and (placed := _placed_before(sentence, spans, a, described)):
                    dated = _dated_by(placed[0].text, placed[1], a, b, between)  # "founded in London in 1821 by B"
                if dated is None and len(triples) > first_triple:  # "founded in 1976 in Dublin by the poet B",
                    # "earned her doctorate at X in 2008"
                    dated = _placed_by(triples[-1], a, b, between) or _dated_after(triples[-1], a, b, between)
                if dated is None:
                    dated = _also_is(sentence, actor, a, b)
                if dated is None and (clause := _CLAUSE.fullmatch(between)) and (found := _definite(clause[1], known)) \
                        and (told_rel := _relation(clause[1][found[0].end() :])):
                    dated = (found[1], told_rel, b.text)  # "... and the bridge was opened by B": the bridge's
                    told = told or (a.end, found[1])
                elif dated is None and actor and clause and (own := _OWN_PASSIVE.fullmatch(clause[1])):
                    dated = (actor, own[1], b.text)  # "..., and the course record is held by B": the actor's
                listed = _listed(sentence, spans, b) and a.kind == b.kind and len(triples) > first_triple \
                    and triples[-1][2] == a.text \
                    and relation_group(normalize_relation(triples[-1][1])) is None  # not "born in Porto, Portugal"
                listed = listed or len(triples) > first_triple and triples[-1][2] == a.text \
                    and triples[-1][1].endswith(" by") and _AND_ROLE.fullmatch(sentence, a.end, b.start) is not None
                triple = (triples[-1][0], triples[-1][1], b.text) if listed else \
                    dated or _pair(sentence, a, b, i == 0, actor)  # "stars A, B and C": B and C too
                if triple is None and adjective is not a and a.kind in ("name", "title"):
                    # too long a relation from the name before the adjective: its last clause
                    clause = _last_clause(sentence[adjective.end : b.start])
                    triple = (a.text, _ROLE_FOR.sub(r"\1 \2", clause), b.text) if clause else None
                if triple:
                    triples.append(triple)
            opening = pronoun.end() if pronoun else None
            deeds = _common_objects(sentence, spans, described, actor, opening)
            triples[first_triple:] = [t for t in triples[first_triple:] if not any(  # not "was sunk by" German
                (d[0], d[1]) == t[:2] and d[1].endswith(" by") and d[2].startswith(f"{t[2]} ") for d in deeds)]
            triples += deeds
            triples += _where_clauses(sentence, spans, actor)
            triples += _by_roles(sentence, spans, actor)
            if bought := _bought_it(sentence, names):  # not the buyer's "bought it from" the seller
                triples[first_triple:] = [t for t in triples[first_triple:] if t[0] != bought[2] or t[2] == bought[0]]
                triples.append(bought)
            if actor and thing and actor != thing and (there := _THERE.search(sentence)) \
                    and not any(s.text != actor and s.end <= there.start() for s in spans):
                triples.append((actor, f"{there[1]} at", thing))  # "Robert Burns lived there": at the farm
            if sizes := _measures(sentence, spans, described, actor, opening):
                numbers = {w for _, _, size in sizes for w in size.split()}  # "X is 330", "330 metres long and ..."
                triples[first_triple:] = [t for t in triples[first_triple:]
                                          if t[0] not in numbers and (t[1] not in _COPULAS or t[2] not in numbers)]
                triples += sizes
            triples[first_triple:] = _roles_named(sentence, spans, triples[first_triple:])
            if told and not (names and names[0].start < told[0]):
                subject = told[1]  # "Construction began in 1959 and the bridge was opened by B. It carries ..."
            elif names and not (pronoun and pronoun.start() < names[0].start):
                subject = names[0].text
            thing = subject if subject not in people else thing
            things = {s.text for s in names} - people
            reached = next(((r, o) for _, r, o in reversed(triples[first_triple:]) if o in things), None)
            held = reached[1] if reached else None
            sold_held = held if reached and _SALE.fullmatch(reached[0]) else None
        full = _full_names(entities, passage)
        triples = [(full.get(s, s), employer_move(r, full.get(o, o)), full.get(o, o)) for s, r, o in triples
                   if full.get(s, s) != full.get(o, o)]
        return ground(Extraction(entities, triples), passage)


_OF_PLACE = frozenset("of de du des la le del della di".split())
"""Connectors after which a name's last word is a place it is of ("Orchestre de Lyon"), not a surname."""


def _full_names(names: list[str], passage: str) -> dict[str, str]:
    """A one-word name that ends exactly one longer name of the passage stands for it ("Castell was
    born in Tarrow" after "Nina Castell"), but not a place that ends a thing of it ("born in Lyon"
    beside "Orchestre de Lyon" or "University of Lyon"), nor one the passage names as a place ("a
    bridge in Scotland" beside "Transport Scotland")."""
    longer: dict[str, set[str]] = {}
    for name in names:
        words = name.split()
        if len(words) > 1 and words[-1][:1].isupper():
            longer.setdefault(words[-1], set()).add(name)
    places = {name.split()[-1] for name in names if len(name.split()) > 2 and name.split()[-2] in _OF_PLACE}
    places |= {word for word in longer if re.search(rf"\b(?:in|at|near)\s+{re.escape(word)}\b(?!['’]s)", passage)}
    return {word: next(iter(full)) for word, full in longer.items()
            if len(full) == 1 and word in names and word not in places}


# ---- cache -------------------------------------------------------------------------------------

class ExtractionCache:
    """Extraction results keyed by sha256(extractor id + passage), appended to one JSONL file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._data: dict[str, Extraction] = {}
        self._lock = threading.Lock()
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self._data[row["key"]] = Extraction.from_json(row["value"])
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line after a crash: that passage is simply re-extracted

    @staticmethod
    def key(extractor_id: str, passage: str) -> str:
        return hashlib.sha256(f"{extractor_id}\x00{passage}".encode()).hexdigest()

    def get(self, key: str) -> Extraction | None:
        return self._data.get(key)

    def put(self, items: dict[str, Extraction]) -> None:
        with self._lock:
            self._data.update(items)
            if self.path is not None and items:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as f:
                    for k, v in items.items():
                        f.write(json.dumps({"key": k, "value": v.to_json()}) + "\n")


class CachedExtractor:
    """Wraps an extractor with an ExtractionCache; only uncached passages reach the extractor."""

    def __init__(self, inner: Extractor, cache: ExtractionCache, extractor_id: str | None = None) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        version = getattr(inner, "version", None)
        self.extractor_id = (extractor_id or inner.name) + (f":v{version}" if version else "")

    def extract(self, passages: list[str], progress: Progress | None = None) -> list[Extraction]:
        keys = [ExtractionCache.key(self.extractor_id, p) for p in passages]
        missing = {k: p for k, p in zip(keys, passages) if self.cache.get(k) is None}
        if missing:
            cached = len(passages) - len(missing)
            counted = {"progress": lambda n: progress(cached + n)} if progress else {}
            fresh = self.inner.extract(list(missing.values()), **counted)
            self.cache.put(dict(zip(missing.keys(), fresh)))
        elif progress:
            progress(len(passages))
        return [self.cache.get(k) for k in keys]


def _dedupe(items) -> list[str]:
    seen, out = set(), []
    for item in items:
        key = normalize(item)
        if key and key not in seen:
            seen.add(key)
            out.append(item)
    return out
