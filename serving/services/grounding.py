"""What grounding puts in front of the model, and when: the relevance gate, the facts chained over
the graph (multi-hop), and the prompt formats the ablation in ``bench/grounding_prompt.py`` compares.

A question is grounded only when the memory holds something about it:

    facts  = current facts whose subject the question names, with cosine(question, fact) >= fact_min,
             or any fact with cosine >= fact_alone; the best of them, and up to ``seeds`` - 1 more
             within ``seed_margin`` of it (MiniLM cosines; thresholds set on MQuAKE-hard cases 0-199)
    chain  = from the last fact's object, the current fact about that object whose relation the
             question asks about, best cosine first, up to ``hops`` more facts (MeLLo's chain,
             without the model's own decomposition)
    passages = the PageRank top-k, kept only when the best dense cosine reaches passage_min, each
               within passage_ratio of the best one's PageRank score

No fact past the gate: a fact about a subject the question names whose chain reaches a fact the
question asks about grounds it; else a fact that ends at what the question names, with a relation
it asks about (``inverse_seeds``), followed from its subject (``ChatService.retrieve``).

Nothing passes: the question is answered as if the memory were empty.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from memory.facts import FUNCTIONAL_RELATIONS, FactHit, ended_group, normalize_relation, relation_group
from serving.services.routing import VERBS

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
    format: Format = "passages"
    """How grounding is shown: facts and passages numbered in a system message (passages); facts in
    a system message that says they replace prior knowledge (facts); facts before the question with
    IKE demonstrations (ike); each fact as an earlier turn in which the assistant stated it (recall);
    or the facts as a note after the question (note). ``bench/grounding_prompt.py`` on MQuAKE-hard
    cases 0-9 (40 single-hop and 10 multi-hop questions, SmolLM2-135M, one run): passages named the
    new object 27 times, ike 21; with context-aware decoding (contrast 1) passages 31 and ike 28
    (multi-hop 4 of 10 for both, 2 to 3 without). Invented people's changed employers: passages with
    the contrast named the newest 6 of 7 and, after a revert, the previous one 6 of 7."""
    fact_min: float = 0.35
    """Cosine a fact needs when the question names its subject."""
    fact_alone: float = 0.85
    """Cosine a fact needs when the question does not name its subject."""
    passage_min: float = 0.45
    """Dense cosine the best passage needs for passages to be shown."""
    passage_ratio: float = 0.05
    """Fraction of the best passage's PageRank score a passage needs to be shown next to it: a
    passage far below it is another document's, whose names the model took instead ("Which birds is
    Lake Tamaru known for?" answered from a literary prize's passage at 1/60 of the lake's)."""
    sentences: int = 3
    """Sentences shown of each passage: its first and those closest to the question (0: the whole
    passage); see ``serving.services.excerpts``."""
    hops: int = 3
    """Most facts added by following objects to their own facts."""
    seeds: int = 2
    """Facts past the gate that are shown (best first) and followed."""
    seed_margin: float = 0.15
    """A fact past the gate other than the best is shown only within this cosine of the best: a
    second fact about the same subject ("its official language" next to "its capital") is what the
    model answered instead of the asked one."""
    max_facts: int = 6
    contrast: float = 1.0
    """Context-aware decoding's alpha on grounded answers (0: off): see ``serving.core.generation.Guidance``.
    In the same run as above, alpha 2 (plausibility 0.01) gave passages 29 and ike 23, and alpha 4
    answers read as word salad while naming the objects."""
    plausibility: float = 0.1
    """Tokens below this fraction of the grounded prompt's best token's probability are never chosen."""
    copy: int = 3
    """Fact copying (with the contrast on): once the answer's last ``copy`` tokens restate a shown
    fact up to its object, the object is copied (0: off); see ``serving.core.generation.Guidance``.
    On MQuAKE-hard cases 0-19 (80 single-hop, 20 multi-hop questions, contrast 1, one run): copy off
    named the new object 67 times, copy 3 and copy 4 79 each; multi-hop 9, 8 and 8 of 20; unrelated
    answers unchanged 10/10 in each. An earlier version that also copied the words before the object
    scored the same but gave 19 answers like "The country of citizenship of X is a citizen of Y"."""
    anchor: bool = True
    """Subject-anchored copying (with the contrast on): an answer that starts with a shown fact's
    sentence through its subject goes on with that sentence, when the question asks about the fact's
    relation and the fact is the last of its chain (``anchored_sources``)."""
    substitute: bool = True
    """Answer substitution (with the contrast on): when the facts chain a subject the question names
    to the one object it asks for, a name the answer would take from neither the question nor the
    facts becomes that object (``serving.services.substitution``, ``serving.core.generation.Guidance``)."""
    end: bool = True
    """With substitution's asked object: the answer ends at the break after the sentence that names
    it ("… stars Luc Perrin." did go on "The film was shot in Oslo.", which no fact says)."""

    def __post_init__(self) -> None:
        if not (-1.0 <= self.fact_min <= self.fact_alone <= 1.0 and -1.0 <= self.passage_min <= 1.0
                and 0.0 <= self.passage_ratio <= 1.0):
            raise ValueError("need -1 <= fact_min <= fact_alone <= 1, -1 <= passage_min <= 1 and "
                             "0 <= passage_ratio <= 1")
        if self.hops < 0 or self.max_facts < 1 or self.seeds < 1 or self.sentences < 0:
            raise ValueError("hops and sentences must be >= 0, and max_facts and seeds >= 1")
        if self.contrast < 0 or not 0 < self.plausibility <= 1 or self.copy < 0:
            raise ValueError("need contrast >= 0, 0 < plausibility <= 1 and copy >= 0")


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
    """The question names the subject: all its words, or all but one of three or more (not the
    first: "The Beatles" does not name "With the Beatles"), in order-free match, or a part of a
    capitalised name (:func:`_named_in_part`); a parenthesis in the subject may be left out ("Kira
    Osei (born 1990)")."""
    asked = set(_words(question))
    bare = re.sub(r"\s*\([^)]*\)", "", subject).strip()
    if bare and bare != subject and names(question, bare):
        return True
    words = [w for w in _words(subject) if len(w) > 1] or _words(subject)
    missing = [i for i, w in enumerate(words) if w not in asked]
    if missing and len(words) >= 3:  # all but one: the capitalised words as capitalised ("Which company is Ford
        written = set(re.findall(r"[A-Za-z0-9]+", question))  # Mustang produced by?" names no Ford Motor Company)
        missing = [i for i, w in enumerate(re.findall(r"[A-Za-z0-9]+", subject))
                   if len(w) > 1 and (w not in written if w[:1].isupper() else w.lower() not in asked)]
    return bool(words) and (not missing or (len(words) >= 3 and len(missing) == 1 and missing[0] > 0)) \
        or _named_in_part(question, subject)


_LEADS = frozenset("in on at of for to from by the a an what which who whom whose where when how why does did "
                   "do is was are were has had".split())
"""Words that may open a question in capitals before a name ("In", "Who")."""


def _named_in_part(question: str, subject: str) -> bool:
    """A name the question writes is part of a subject in capitalised words: "Lindqvist" or "Marek's"
    of "Marek Lindqvist" (not "United States" of "United Kingdom", nor "The Life of Pablo" of "In My
    Life": the whole name, connectors and all, must belong)."""
    own = subject.split()
    if len(own) < 2 or not all(w[:1].isupper() for w in own):
        return False
    own_words = {w.lower() for w in own}
    for span in re.findall(r"[A-Z][\w-]*(?:\s+(?:(?:of|the|de|von|van|and|&)\s+)*[A-Z][\w-]*)*", question):
        parts = [p for p in span.split() if p.lower() not in _LEADS]
        if parts and all(p.lower() in own_words for p in parts) and any(len(p) >= 4 for p in parts):
            return True
    return False


def mentions(question: str, subject: str) -> bool:
    """The question names the subject (:func:`names`), or writes one of its capitalised words of four
    or more letters in a name of no other capitalised word ("Messi" of "Lionel Messi"; not the
    "Philharmonic" of "Berlin Philharmonic" for "Harwick Philharmonic"): generous, as it only decides
    whether the weight edits about the subject may act on the answer."""
    if names(question, subject):
        return True
    words = re.findall(r"[A-Za-z0-9]+", subject)
    own = {w.lower() for w in words}
    capitals = {w.lower() for w in words if w[0].isupper() and len(w) >= 4}
    for span in re.findall(r"[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*", question):
        parts = [p.lower() for p in re.findall(r"[A-Za-z0-9]+", span)]
        if capitals & set(parts) and all(p in own or p in _LEADS for p in parts):
            return True
    return False


AUXILIARIES = frozenset("is was are were has had have be been being does did do will can".split())


_PLACE_PREPOSITIONS = frozenset("in at on for from to with by into".split())


def _noun_of(words: list[str]) -> bool:
    """A noun's relation that ends in "of" ("capital of", "head coach of"); not a verb's that says
    where ("play in the city of")."""
    return bool(words) and words[0] not in AUXILIARIES | VERBS and words[-1] == "of" \
        and not _PLACE_PREPOSITIONS & set(words[:-1])


def _possessive(words: list[str]) -> bool:
    """A possessive's relation ("chief executive is", "founder is"): a noun, then "is"/"was"."""
    return len(words) > 1 and words[0] not in AUXILIARIES | VERBS and words[-1] in AUXILIARIES


def _owner(subject: str) -> str:
    """The subject as an owner: "Halvard Institute's", "Pellam Textiles'"."""
    return f"{subject}'" if subject.endswith("s") else f"{subject}'s"


def _spoken(fact: FactHit) -> FactHit:
    """The fact without an adverb of time after its relation's verb ("husband is now": "husband is"),
    so that it is worded like the relation without it ("Tova Lind's husband is Mateo Ruiz.")."""
    words = fact.relation.split()
    if len(words) > 2 and words[-1].lower() in ("now", "currently", "still") and words[-2].lower() in AUXILIARIES:
        return replace(fact, relation=" ".join(words[:-1]))
    return fact


def fact_sentence(fact: FactHit) -> str:
    """The fact as a plain sentence: "capital of" reads "The capital of S is O", "produced by" reads
    "S is produced by O", "chief executive is" reads "S's chief executive is O" (and "course record is
    held by" "S's course record is held by O"), a relation with its own verb reads "S relation O"
    ("plays the position of")."""
    fact = _spoken(fact)
    relation = fact.relation.strip()
    words = relation.lower().split()
    if _noun_of(words):
        text = f"The {relation} {fact.subject} is {fact.object}"
    elif _possessive(words) or words and words[0] not in AUXILIARIES | VERBS and words[-1] == "by" \
            and any(_COPULA.fullmatch(w) for w in words[1:-1]):  # "course record is held by"
        text = f"{_owner(fact.subject)} {relation} {fact.object}"
    elif words and words[0] not in AUXILIARIES and words[-1] == "by":
        text = f"{fact.subject} is {relation} {fact.object}"
    else:
        text = f"{fact.subject} {relation} {fact.object}".strip()
    return text if text.endswith(".") else text + "."


def answered_names(facts: list[FactHit], question: str) -> set[str]:
    """The subjects and objects of the shown facts when one of them answers the question whole (the
    question names its subject, and each of its other words is the relation's, a general one or the kind
    it asks for; and no shown fact goes on from its object); empty otherwise. A passage that names none of
    them is another document's, whose names the model may take instead: "Who is Tobias Engel's wife now?"
    answered "Tomas Tobias Engel divorced Nadia Rahim." beside "... Tomas Reyes now directs it". A question
    with more to it ("... the city that has a courthouse in X's birthplace ...") keeps its passages."""
    subjects = {f.subject.lower() for f in facts}
    which = _WHICH.match(question)
    rest = _stems(question) - _GENERIC_STEMS - (_stems(which[1]) if which else set())
    if not any(names(question, f.subject) and not rest - _stems(f.subject) - _relation_stems(f.relation)
               and f.object.lower() not in subjects for f in facts):
        return set()
    return {name for f in facts for name in (f.subject, f.object)}


def possessive_wording(fact: FactHit) -> str | None:
    """A noun's relation ("director of") said with the subject first: "Halvard Institute's director is
    Anneli Korpela.", so that an answer that opens with the subject names the relation before the object
    (not "The Halvard Institute is Anneli Korpela."); "Pellam Textiles' chief executive is ..."; None for
    another relation."""
    fact = _spoken(fact)
    words = fact.relation.split()
    if not _noun_of([w.lower() for w in words]):
        return None
    return f"{_owner(fact.subject)} {' '.join(words[:-1])} is {fact.object}."


def fact_sources(tokenizer, facts: list[FactHit], question: str = "") -> tuple[tuple[tuple[int, ...], int], ...]:
    """Each fact's sentence as token ids, as it reads inside an answer (after a space) and at its
    start, with the index where its object starts: what fact copying may copy
    (``serving.core.generation.Guidance.copy_from``). A fact the question asks about is also worded
    as an answer tends to word it (``fact_wordings``): only then, since "The founder of X is" ends
    like "The chief executive of X is"."""
    sources = []
    for fact in facts:
        if inverse_entry(fact, question):
            # asked for its subject: copying into the object the question names ends "The company
            # that Ana Brisk" with the fact's full stop, and so would copying into the subject end
            # "The founder of Glasswing Studios": the inverse wording without its full stop
            inverse = inverse_wording(fact)
            wordings, answer = ([inverse.rstrip(".")], fact.subject) if inverse else ([], "")
        else:
            asked = asks_about(question, fact.relation, fact.subject)
            wordings = fact_wordings(fact) if asked else [fact_sentence(fact)]
            answer = fact.object
        for sentence in wordings:
            for lead in (" ", ""):
                sources.append(split_ids(tokenizer, lead, sentence, sentence.rfind(answer)))
    return tuple(sources)


def inverse_entry(fact: FactHit, question: str) -> bool:
    """The question names the fact's object, not its subject: it asks for the subject (or goes on from it)."""
    return names(question, fact.object) and not names(question, fact.subject)


def inverse_wording(fact: FactHit) -> str | None:
    """The fact said from its object, for a noun's relation: "Tobias Reade is the mayor of Port
    Averne." ("mayor of"), "Ana Brisk is the chief executive of Kestrel Works." ("chief executive is"),
    "Rupert Vane married Ottilie Sand." ("married"); None for another verb's relation."""
    fact = _spoken(fact)
    words = fact.relation.split()
    lower = [w.lower() for w in words]
    if _noun_of(lower):
        return f"{fact.object} is the {fact.relation.strip()} {fact.subject}."
    if _possessive(lower):
        return f"{fact.object} {words[-1]} the {' '.join(words[:-1])} of {fact.subject}."
    if _MARRIED.fullmatch(fact.relation.strip()):
        return f"{fact.object} {fact.relation.strip()} {fact.subject}."  # a marriage reads both ways
    return None


_MARRIED = re.compile(r"(?:(?:is|was|got)\s+)?(?:married(?:\s+to)?|wed)", re.IGNORECASE)
"""A spouse's verb relation: the same fact said from either spouse."""


_GROUP_WORDINGS: dict[str, tuple[str, ...]] = {
    "residence": ("{s} lives in {o}.", "{s} currently lives in {o}.", "{s} is currently residing in {o}.",
                  "{s} resides in {o}.", "{s} is based in {o}."),
    "employer": ("{s} works for {o}.", "{s} works at {o}.", "{s} is employed by {o}.", "{s} currently works for {o}.",
                 "{s} is currently working at {o}."),
    "team": ("{s} plays for {o}.", "{s} currently plays for {o}.", "{s} is a player for {o}."),
    "chief executive": ("The CEO of {s} is {o}.", "The chief executive of {s} is {o}.", "{s} is led by {o}.",
                        "{s} is run by {o}."),
    "capital": ("The capital of {s} is {o}.", "The capital city of {s} is {o}.", "{s}'s capital is {o}."),
    "spouse": ("{s} is married to {o}.", "{s}'s husband is {o}.", "{s}'s wife is {o}."),
    "head coach": ("The coach of {s} is {o}.", "{s} is coached by {o}."),
    "chair": ("The chair of {s} is {o}.", "{s} is chaired by {o}."),
    "manager": ("The manager of {s} is {o}.", "{s} is managed by {o}."),
    "captain": ("The captain of {s} is {o}.", "{s} is captained by {o}."),
    "editor": ("The editor of {s} is {o}.", "{s} is edited by {o}."),
    "principal": ("The principal of {s} is {o}.", "The head of {s} is {o}."),
    "conductor": ("The conductor of {s} is {o}.", "{s} is conducted by {o}.", "The music director of {s} is {o}."),
    "location": ("{s} is located in {o}.", "{s} is based in {o}.", "{s} is in {o}."),
    "headquarters": ("{s} is headquartered in {o}.", "{s} is based in {o}.", "{s}'s headquarters are in {o}.",
                     "The headquarters of {s} are in {o}."),
    "owner": ("{s} is owned by {o}.", "{s} was acquired by {o}.", "{s} was bought by {o}."),
}
"""How answers word a functional relation whatever the fact's own words ("X relocated to B" is
answered "X is currently residing in"): an answer that reaches the object this way copies it too."""


def fact_wordings(fact: FactHit) -> list[str]:
    """The fact's sentence; for a possessive's relation also "The <noun> of S is O", the way an
    answer tends to say it ("Kestrel Works' founder is Edda Varr": "The founder of Kestrel Works is
    Edda Varr"); for a functional relation also its usual wordings (``_GROUP_WORDINGS``)."""
    fact = _spoken(fact)
    sentence = fact_sentence(fact)
    words = fact.relation.split()
    wordings = [sentence]
    if _possessive([w.lower() for w in words]):
        wordings.append(f"The {' '.join(words[:-1])} of {fact.subject} {words[-1]} {fact.object}.")
    usual = _GROUP_WORDINGS.get(relation_group(normalize_relation(fact.relation)) or "", ())
    return wordings + [w for w in (u.format(s=fact.subject, o=fact.object) for u in usual) if w not in wordings]


ANSWER_LEADS = ("The answer is", "The answer is:", "The correct answer is")
"""Openings with which the model announces an answer and then, shown numbered facts, tends to name
a number ("The answer is 3."): an anchored fact's object follows them instead."""


def anchored_sources(tokenizer, facts: list[FactHit], question: str) -> tuple[tuple[tuple[int, ...], int], ...]:
    """The facts an answer may restate from its start (``Guidance.anchored``): each shown fact whose
    relation the question asks about and whose answer no other shown fact is about (the last link
    of a chain: an answer that states the first hop of a two-hop question must stay free to take
    the second), as token ids at an answer's start with the index where the named entity ends: the
    subject, or for an :func:`inverse_entry` the object, in its :func:`inverse_wording` ("Ostrin is
    the capital of Velmora."), or a verb's fact whole from the answer's first token when the question
    asks for its subject (:func:`asks_subject`), or the question restated with the doer it asks for
    (:func:`agent_answer`) from the first token to the end of the answer (it says all the fact says);
    then, for the same facts, each of ``ANSWER_LEADS``
    followed by the answer (the object; an inverse entry's subject), with the index where the lead ends.
    A choice between two names that one shown fact decides (:func:`chosen_option`) is answered from
    the first token."""
    answers = []
    sources = []
    for fact in facts:
        inverse = inverse_entry(fact, question)
        answer = fact.subject if inverse else fact.object
        if not asks_about(question, fact.relation, fact.subject) or any(
                f is not fact and f.subject.lower() == answer.lower() for f in facts):
            continue
        answers.append(answer)
        if not inverse and (doer := agent_answer(question, fact)):  # "Who owns X?", "X was acquired by Y": "Y owns X."
            ids, at = split_ids(tokenizer, "", doer, 0)
            sources.append((ids + (tokenizer.eos_token_id,) if tokenizer.eos_token_id is not None else ids, at))
        sentence, named = (inverse_wording(fact), fact.object) if inverse else (fact_sentence(fact), fact.subject)
        if sentence is None and asks_subject(question, fact.relation):
            sentence, named = fact_sentence(fact), ""  # "Who works for X?": the fact's sentence is the answer
        if sentence is not None:
            at = sentence.find(named)
            sources.append(split_ids(tokenizer, "", sentence, at + len(named) if at >= 0 else -1))
            if named and at == 0 and re.search(rf"\bthe\s+{re.escape(named)}", question, re.IGNORECASE):
                # "Who stars in The Quiet Orchard?" answered "The Quiet Orchard": the title with its article
                sources.append(split_ids(tokenizer, "", f"The {sentence}", len("The ") + len(named)))
        if not inverse and (owned := possessive_wording(fact)):  # "The Halvard Institute" goes on "'s director is O."
            sources.append(split_ids(tokenizer, "", owned, len(fact.subject)))
            if re.search(rf"\bthe\s+{re.escape(fact.subject)}", question, re.IGNORECASE):
                sources.append(split_ids(tokenizer, "", f"The {owned}", len("The ") + len(fact.subject)))
    if chosen := chosen_option(facts, question):
        sources.append(split_ids(tokenizer, "", chosen, 0))
    for answer in answers:
        sources += [split_ids(tokenizer, "", f"{lead} {answer}.", len(lead)) for lead in ANSWER_LEADS]
        if _kind_asked(question, answer):  # "Which prize did X win?": "The" goes on "Aldane Prize."
            sources.append(split_ids(tokenizer, "", f"The {answer}.", len("The")))
    return tuple(sources)


_AGENT_ASKED = re.compile(r"^\W*(?:who|(?:which|what)\s+(?P<kind>[a-z]+))\s+(?P<verb>(?-i:[a-z]+))\s+"
                          r"(?P<rest>[^?]+?)\s*\?\s*$", re.IGNORECASE)
"""A question whose wh-word is the doer of its verb: "Who owns X?", "Which company bought X?"."""


def agent_answer(question: str, fact: FactHit) -> str | None:
    """The question restated with the doer it asks for, when the fact names that doer after "by" and
    the rest of the question is the fact's subject: "Who owns Wrenfield Motors?" with
    "Wrenfield Motors was acquired by Ostberg Group" is "Ostberg Group owns Wrenfield Motors."
    (answers start with the doer, and the model's own doer followed the subject's first word:
    "Wrenfield Group owns"). None for any other question or fact."""
    asked = _AGENT_ASKED.match(question)
    if not asked or asked["verb"] in AUXILIARIES or (asked["kind"] or "").lower() in AUXILIARIES \
            or _words(fact.relation)[-1:] != ["by"] or not re.fullmatch(
                rf"(?:the\s+)?{re.escape(fact.subject)}(?:\s+(?:now|today|currently|in\s+\d{{4}}))?", asked["rest"],
                re.IGNORECASE):
        return None
    return f"{fact.object} {asked['verb']} {asked['rest']}."


_CHOICE = re.compile(r"^\W*(?i:which|who)\b(.+?),?\s+(?:the\s+)?([A-Z][^,?]*?)"
                     r"\s+or\s+(?:the\s+)?([A-Z][^,?]*?)\s*\?\s*$")
"""A question that asks which of two names has a property: "Which singer is American, Mark King or Nick Hexum?"."""


def chosen_option(facts: list[FactHit], question: str) -> str | None:
    """The answer to a choice between two names when the shown facts give exactly one of them an
    object that the question asks for, as a sentence about it: "Which singer is American, Mark King
    or Nick Hexum?" with "Hexum nationality is American" shown reads "Nick Hexum is American."."""
    choice = _CHOICE.match(question)
    if not choice:
        return None
    asked = f" {' '.join(_words(choice[1]))} "
    found = {}
    for option in choice[2], choice[3]:
        for fact in facts:
            if names(option, fact.subject) and f" {' '.join(_words(fact.object))} " in asked:
                verb = re.fullmatch(r"(?:nationality|citizenship)\s+(is|was)", fact.relation.strip())
                found[option] = f"{option} {verb[1]} {fact.object}." if verb else \
                    fact_sentence(replace(fact, subject=option))
    return next(iter(found.values())) if len(found) == 1 else None


_WHICH = re.compile(r"^\W*(?:which|what)\s+([a-z]+)\b", re.IGNORECASE)


def _kind_asked(question: str, answer: str) -> bool:
    """The question asks for a kind of thing that the answer's last word names: "Which prize ...?"
    for "Aldane Prize"."""
    which, last = _WHICH.match(question), _words(answer)[-1:]
    return bool(which and last) and which[1].lower() not in AUXILIARIES and _stem(which[1].lower()) == _stem(last[0])


def asks_subject(question: str, relation: str) -> bool:
    """The question's wh-word stands in the subject's place, before the relation's first word ("Who
    works for X?", "Which company produces X?")."""
    words, first = _words(question), _words(relation)[:1]
    return bool(words and first) and words[0] in ("who", "what", "which") and \
        _stem(first[0]) in {_stem(w) for w in words[1:3]}


def split_ids(tokenizer, lead: str, sentence: str, at: int) -> tuple[tuple[int, ...], int]:
    """``lead + sentence`` as token ids, and the index of the first token that differs from those of
    ``lead + sentence[:at]`` stripped (the whole length when ``at`` < 0)."""
    ids = tokenizer(lead + sentence, add_special_tokens=False)["input_ids"]
    head = tokenizer(lead + (sentence[:at].rstrip() if at >= 0 else sentence), add_special_tokens=False)["input_ids"]
    return tuple(ids), next((i for i, (a, b) in enumerate(zip(ids, head)) if a != b), len(head))


def select_facts(question: str, hits: list[FactHit], config: GroundingConfig) -> list[FactHit]:
    """The gate on facts: named subject and fact_min, or fact_alone; the best, and the next ones
    within ``seed_margin`` of it, ``seeds`` at most; of those, only the ones whose relation the
    question asks about when there are any, the one whose relation words more of the question first
    ("What position does X play?": "plays as" before "plays for"). When there are none, the best fact
    past the gate that has one comes first ("Who founded the company X works for?" starts at "X works
    for", not at the closer "X is a chemist from")."""
    passed = sorted((h for h in hits
                     if (h.score >= config.fact_alone or (h.score >= config.fact_min and names(question, h.subject)))
                     and fits_question(question, h.object, h.relation)
                     and not (_WHO.match(question) and _WHERE_OR_WHEN.search(h.relation)
                              and not _employer(h.relation)
                              and names(question, h.subject))),
                    key=lambda h: -h.score)
    passed = _without_endings(passed, question)
    chosen = _best(passed, config)
    asked = [h for h in chosen if asks_about(question, h.relation, h.subject)]
    if asked:
        stems = asked_stems(question)  # the fact that words more of the question first, then the closer:
        asked.sort(key=lambda h: -len(stems & _relation_stems(h.relation)))  # "position" and "play": "plays as"
        return _with_siblings(asked, passed)  # "When was X opened?": "X was opened in 1889", not "X closed in 1957"
    first = next((h for h in passed if asks_about(question, h.relation, h.subject)), None)
    return _with_siblings([first, *chosen][: config.seeds] if first else chosen, passed)


def _employer(relation: str) -> bool:
    """The relation's object is the subject's employer, neither a place nor an agent ("works at", "hired by")."""
    return relation_group(normalize_relation(relation)) == "employer"


def _without_endings(passed: list[FactHit], question: str) -> list[FactHit]:
    """The facts without those that end a relation which another of them holds for the same subject: "X
    moved its capital to B" answers, "X moved its capital from A" beside it only names the old one;
    unless the question asks for the ending in its own words ("Which company did X quit?")."""
    held = {(h.subject, relation_group(normalize_relation(h.relation))) for h in passed}
    asked = asked_stems(question)
    return [h for h in passed if not ((ends := ended_group(normalize_relation(h.relation)))
                                      and (h.subject, ends) in held
                                      and not asked & (_stems(h.relation) - _GROUP_STEMS[ends]))]


def _with_siblings(chosen: list[FactHit], passed: list[FactHit]) -> list[FactHit]:
    """The chosen facts and the other passed ones with a chosen one's subject and relation: "Who founded
    X?" shows both of "X was founded by A" and "X was founded by B", however far apart their scores."""
    pairs = {(h.subject, h.relation) for h in chosen}
    return chosen + [h for h in passed if (h.subject, h.relation) in pairs and h not in chosen]


_WHEN = re.compile(r"^\W*(?:when\b|(?:in|during|since)\s+(?:what|which)\s+(?:year|decade|century|month)\b"
                   r"|(?:what|which)\s+(?:year|decade|century|month|date)\b|how long ago\b)", re.I)
_WHO = re.compile(r"^\W*(?:who|whom)\b", re.I)
_WHERE = re.compile(r"^\W*where\b", re.I)
_MONTHS = re.compile(r"\b(?:january|february|march|april|may|june|july|august|september|october|november"
                     r"|december)\b")


_PERIOD = re.compile(r"\b(?:century|centuries|decade|ages?|era|period|dynasty)\b")
"""Words of a time that is no date: "the 12th century", "the Bronze Age", "the Edo period"."""


def fits_question(question: str, obj: str, relation: str = "") -> bool:
    """A fact's object can answer the question's wh-word: a time for "When ..." or "In what year ..."
    ("X was founded by Cistercian monks" does not say when). A bare date, month or number does not
    answer "Who ...", "Where ...", "Which dam ..." or "What does X publish?" ("X was formed in 1962"),
    and an agent, a common noun, a nationality or what X is answers no place question ("X was founded
    by B", "X taught architecture", "X's nationality is Norwegian", "X is an Iron Age hill fort" do not
    say where). A period answers "When ..." too ("X was raised during the Bronze Age")."""
    where = bool(_WHERE.match(question) or PLACE_ASKED.search(question) or _PLACE_NOUN_ASKED.match(question))
    by = relation.lower().split()[-1:] == ["by"] and not _employer(relation)
    if where and (by or obj.islower()
                  or relation.lower().startswith("nationality") or _COPULA.fullmatch(relation.lower())):
        return False  # an agent (but an employer: "hired by"), a common noun ("taught architecture"), a
        # people's adjective or what X is is no place
    lower = obj.lower()
    bare_time = bool(re.search(r"\d", lower) or _MONTHS.search(lower)) \
        and not re.search(r"[a-z]", _MONTHS.sub("", lower))
    if _WHEN.match(question):
        return bare_time or bool(_MONTHS.search(lower) or _PERIOD.search(lower))
    which = _WHICH.match(question)
    word = which[1].lower() if which else ""
    thing = bool(word) and word not in AUXILIARIES - _DO | _COUNTED | _IRREGULAR.keys() | _DOINGS \
        and not word.endswith("ed")  # a noun, not "What happened to ..."; "What does X publish?" is a thing
    return not ((_WHO.match(question) or where or thing) and bare_time)


_PLACE_NOUN_ASKED = re.compile(r"^\W*(?:what|which)\s+(?:is|was)\s+(?:the\s+)?(?:[\w'’-]+\s+){0,4}?"
                               r"(?:capital|hometown|home town|birthplace|headquarters)\b", re.IGNORECASE)
"""A question for a place by the noun it asks for: "What is X's capital city?", "What is the capital of X?"."""
_COPULA = re.compile(r"(?:is|was|are|were)(?: (?:a|an|the))?")
"""A relation that only says what its subject is."""
_COUNTED = frozenset("number amount age size height length width depth weight distance population score time day "
                     "season year percentage rank price temperature capacity elevation".split())
"""What "What/Which <word> ..." may ask that a bare number or date answers ("What age ...")."""
_DO = frozenset("do does did".split())
"""After "What", what asks for a thing done ("What does X publish?"), never a bare year."""
_DOINGS = frozenset("happens makes causes means".split())
"""Verbs that may follow "What" in a question."""


def inverse_seeds(question: str, hits: list[FactHit], config: GroundingConfig) -> list[FactHit]:
    """Facts that end at what the question names, whose relation it asks about, with fact_min: the
    question asks for their subject ("Which company does Ana Brisk run?" after "The chief executive
    of Kestrel Works is Ana Brisk"). The best, and the next ones within ``seed_margin``, ``seeds`` at most."""
    passed = sorted((h for h in hits if h.score >= config.fact_min and inverse_entry(h, question)
                     and asks_about(question, h.relation, h.subject)), key=lambda h: -h.score)
    return _best(passed, config)


def _best(passed: list[FactHit], config: GroundingConfig) -> list[FactHit]:
    """The best of facts sorted best first, and the next ones within ``seed_margin``, ``seeds`` at most."""
    return [h for h in passed if h.score >= passed[0].score - config.seed_margin][: config.seeds]


STOPWORDS = frozenset("what which who whom whose where when does did that this with from into about".split())


_IRREGULAR = {past: forms.split()[0] for forms in (
    "teach taught", "buy bought", "bring brought", "think thought", "fight fought", "catch caught", "seek sought",
    "sell sold", "tell told", "hold held", "lead led", "make made", "leave left", "take took taken", "go went gone",
    "give gave given", "speak spoke spoken", "become became", "begin began begun", "run ran", "meet met", "pay paid",
    "keep kept", "know knew known", "grow grew grown", "draw drew drawn", "fly flew flown", "throw threw thrown",
    "choose chose chosen", "drive drove driven", "ride rode ridden", "stand stood", "lose lost", "send sent",
    "spend spent", "sit sat", "feel felt", "hear heard", "see saw seen", "come came", "get got gotten",
    "sing sang sung", "win won", "write wrote written", "build built", "bear bore borne", "lay laid",
    "fall fell fallen", "eat ate eaten", "break broke broken", "steal stole stolen", "wear wore worn",
    "swim swam swum", "die died", "feed fed") for past in forms.split()[1:]}
"""Irregular past forms and their base ("taught": "teach"), so that "Where did X teach?" asks about "taught at"."""


def _stem(word: str) -> str:
    """The word's first five letters after an inflection ending, a doubled consonant before it and a
    silent "e", with a "y" for an "i" left at its end, irregular past forms as their base: works, worked,
    working: "work"; owns, owned: "own"; stars, starred: "star"; close, closed: "clos"; studied,
    studies: "study"; taught: "teach"."""
    word = _IRREGULAR.get(word, word)
    for ending in ("ing", "ed", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 3 and not word.endswith("ss"):
            word = word[: -len(ending)]
            if ending != "s" and len(word) >= 4 and word[-1] == word[-2] and word[-1] in "bdgmnprt":
                word = word[:-1]
            break
    word = word[:-1] if len(word) >= 4 and word.endswith("e") else word
    return (word[:-1] + "y" if len(word) >= 4 and word.endswith("i") else word)[:5]


SHORT_WORDS = frozenset({"ceo", "run", "led", "won", "win", "die"})
"""Words of three letters or fewer that still name a relation."""


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in _words(text)
            if (len(w) > 3 and w not in STOPWORDS) or w in SHORT_WORDS or w in _IRREGULAR}


SAME_DEED = ("author writer wrote written write", "builder built build", "singer sang sung sing",
             "founder founded establish established launched launch", "win won winner",
             "attend attended studied study educated", "create created creator develop developed invent invented",
             "height tall high", "length long", "width wide", "depth deep", "based headquartered headquarters",
             "brother sister sibling")
"""Words for one deed (or one size, or one kin) that share no first letters: "the author of X" asks about "X is a
novel by the writer Y", "How tall is X?" about "X's height is about four metres", "X's sister" about "X is the
brother of Y"."""
_SAME_DEED = {stem: group for group in (_stems(words) for words in SAME_DEED) for stem in group}


@functools.lru_cache(maxsize=256)
def asked_stems(question: str) -> frozenset[str]:
    """The question's stems, with the other words of each deed it names (``SAME_DEED``); cached, as
    a chain asks it of one question for every fact it reaches."""
    asked = _stems(question)
    return frozenset(asked.union(*(_SAME_DEED.get(stem, set()) for stem in asked)))


def asks_about(question: str, relation: str, subject: str = "") -> bool:
    """The question mentions the relation: a word of it, of its group's name ("married to": spouse)
    or of its group's other phrasings ("chief executive officer of": CEO), compared by their first five letters after an inflection ending (citizen/citizenship,
    performed/performer, work/works), or by a word of the same deed (``SAME_DEED``: author/wrote).
    The words of the fact's ``subject`` are not asked of it: "Who is the main stage of the Velmora
    Festival named after?" does not ask about "is an annual music festival held every" August."""
    asked = asked_stems(question) - _stems(subject)
    which = _WHICH.match(question)
    if which and which[1].lower() not in AUXILIARIES and which[1].lower() in _words(relation):
        return True  # "What dye did X create?" asks about "developed the dye"
    group = relation_group(normalize_relation(relation))
    if _FROM_ASKED.match(question) and (relation.lower().split()[-1:] == ["from"] or group == "birthplace"):
        return True  # "Where is X from?" asks about "is a jazz singer from" Bergen
    if group is None and PART_OF.fullmatch(relation) and PLACE_ASKED.search(question):
        return True  # "In which country is Lake Vessaro?" asks where Finnmark is, a "region of" Norway
    if _WHERE_IS.match(question) and not asked and not _FROM_ASKED.match(question) \
            and (group == "location" or _SAID_IN.fullmatch(relation)):
        return True  # "Where is X?" asks where X "is a parish church in the village of" Cawthorne Vale
    if group is None:
        return bool(asked & _stems(relation))
    if group == "location" and PLACE_ASKED.search(question) and not asked & _OTHER_PLACE_STEMS:
        return True  # "In which town is the lab where X works?" asks where the lab is
    if group == "location" and _WHERE_IS.match(question) and _WHERE_SEATED.search(question):
        return True  # "Where is X based now?" asks where X "relocated its offices to"
    return bool(asked & (_stems(relation) | _stems(group) | (_GROUP_STEMS[group] - _GENERIC_STEMS)))


_WHERE_OR_WHEN = re.compile(r"\b(?:in|at|on|near|during)\s*$", re.IGNORECASE)
"""A relation that ends where or when its subject is or was: "held in" Amberfield answers no "Who ..." about it."""
_WHERE_IS = re.compile(r"^\W*where\s+(?:is|was|are|were)\b", re.IGNORECASE)
_WHERE_SEATED = re.compile(r"\b(?:based|located|situated)\b", re.IGNORECASE)
"""What "Where is X ...?" asks with a word that any place group's fact may answer, a location's too."""
_SAID_IN = re.compile(r"(?:is|was|are|were)\s+(?:an?|the)\s+(?:[\w-]+\s+){0,6}?(?:in|at|near|on)"
                      r"(?:\s+the\s+[a-z]+\s+of)?", re.IGNORECASE)
"""What X is and where: "is a medieval parish church in the village of" Cawthorne Vale, "is a canal in"."""
_FROM_ASKED = re.compile(r"^\W*where\b.*\b(?:from|come|comes|came)\W*$", re.IGNORECASE)
"""A question for where someone or something is from: "Where is X from?", "Where does X come from?"."""
PLACE_ASKED = re.compile(r"\b(?:in|at)\s+(?:which|what)\s+(?:town|city|village|country|county|province|state|region|"
                         r"place)\b|^\W*(?:which|what)\s+(?:town|city|village|country|county|province|state|region)"
                         r"\s+(?:is|was)\b", re.IGNORECASE)
"""A question for the place something is in, with no word of the relation ("In which town is ...")."""
PART_OF = re.compile(r"(?:(?:is|was)\s+)?(?:(?:an?|the)\s+)?(?:[\w-]+\s+)?(?:region|province|county|state|district|"
                     r"department|municipality|territory|part)\s+of|in", re.IGNORECASE)
"""A relation that puts a place inside a larger one ("region of", "is a county of", "in"): what a place
question asks."""


GENERIC = frozenset("city country place located location situated based lies state head member official sports "
                    "belong".split())
"""Relation words that questions use for other hops too ("the country where X is a citizen", "Which
continent did ... belong to": no owner)."""


ASKED_AS = {"chief executive": "run runs running led leads leader boss", "birthplace": "hometown",
            "residence": "home", "team": "club"}
"""Words a question uses for a relation that statements do not phrase it with ("Who runs the company
that X works for?" asks for its chief executive)."""

_GROUP_STEMS = {group: _stems(f"{group} {re.sub(r'[^a-z]+', ' ', pattern)} {ASKED_AS.get(group, '')}")
                for group, pattern in FUNCTIONAL_RELATIONS}


def _relation_stems(relation: str) -> set[str]:
    """The stems of a relation's words and of its functional group's name and patterns."""
    group = relation_group(normalize_relation(relation))
    return _stems(relation) | _GROUP_STEMS.get(group, set())


_GENERIC_STEMS = _stems(" ".join(GENERIC))
_OTHER_PLACE_STEMS = set().union(*(_GROUP_STEMS[g] for g in ("birthplace", "death place", "capital", "headquarters",
                                                             "residence"))) - _GENERIC_STEMS
"""Words of the other place-valued relations: "In which city was X born?" asks for no location."""
RELATION_STEMS = frozenset(set().union(*_GROUP_STEMS.values()) - _GENERIC_STEMS)
"""Stems of the functional relations' words: a question that uses one asks for that relation."""


def covers(facts: list[FactHit], question: str) -> bool:
    """Every functional relation the question asks for (``RELATION_STEMS``, e.g. "continent", "born")
    is one of the facts' relations: the facts can answer it, with no hop missing."""
    asked = _stems(question) & RELATION_STEMS
    return asked <= set().union(*(_relation_stems(f.relation) for f in facts)) if asked else True


def chain(seeds: list[FactHit], about, score, config: GroundingConfig, question: str,
          inverse: bool = False) -> list[FactHit]:
    """Follow objects to the facts whose relation the question asks about: ``about(entity) -> facts``,
    ``score(facts) -> cosines with the question``; a fact whose relation the question leaves unsaid is
    followed when the fact after it is asked about. A single-hop question adds nothing: the facts
    about its answer are about something it did not ask. ``inverse``: the seeds are
    :func:`inverse_seeds`, followed from their subjects."""
    chosen = list(seeds)
    seen = {f.id for f in chosen}
    asked = asked_stems(question)
    frontier = [f.subject if inverse else f.object for f in seeds]
    for _ in range(config.hops):
        # forward only: a fact that ends at the entity ("Gaelic football was created in India") is
        # about something else that shares the answer
        reachable = [f for entity in frontier for f in about(entity)
                     if f.id not in seen and f.object.lower() != entity.lower()]
        candidates = [f for f in reachable if asks_about(question, f.relation, f.subject)]
        # a relation the chain has already taken is a word of the question spent ("Who runs the
        # company founded by X?" goes from "founded by" on to its chief executive, not to "founded in")
        spent = asked & set().union(*(_relation_stems(f.relation) for f in chosen))
        candidates = [f for f in candidates if not asked & _relation_stems(f.relation) <= spent] or candidates
        if candidates:
            links = [candidates[int(np.argmax(score(candidates)))]]
        else:  # a link the question leaves unsaid ("the country to which X belongs": citizen of),
            # taken only when a fact after it is one the question asks about
            bridged = [(f, g) for f in reachable for g in about(f.object)
                       if g.id not in seen and g.object.lower() != f.object.lower()
                       and asks_about(question, g.relation, g.subject)]
            if not bridged or len(chosen) + 2 > config.max_facts:
                break
            links = list(bridged[int(np.argmax(score([g for _, g in bridged])))])
        chosen += links
        seen.update(f.id for f in links)
        frontier = [links[-1].object]
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
