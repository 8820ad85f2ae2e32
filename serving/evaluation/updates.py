"""Updates that show in the answers, measured end to end on MQuAKE-format data.

    palimpsest eval updates --data MQuAKE-hard.json --n 12 --configs auto,memory,edit --unrelated 10

For each configuration (a ``route`` of ``/v1/updates``: auto, memory or edit), every requested
rewrite of the selected cases is applied through ``UpdateService.apply`` as the statement
``prompt.format(subject) + " " + target_new + "."``. Then, through the chat path at temperature 0:

- each rewrite's own single-hop question: the ``new_single_hops`` hop whose answer is the rewrite's
  new target (with that hop's aliases), else the rewrite's ``question``, else its cloze prompt;
- the first multi-hop question of each case (expected: ``new_answer`` or an alias);
- unrelated questions: the first single hop of each following case that names none of the edited
  subjects or targets, answered at the base before any update and again after the updates
  (``locality``: the whole answer is the same; ``locality_first_sentence``: its first sentence is).

An answer hits when it contains the expected object or an alias as a whole word, case-insensitive.
Everything the configuration created is then reverted, newest first, and ``back_to_base`` checks
the base fingerprint, no applied entry, and an empty memory. "Changed twice" applies A, B and C as
employers of invented people (or the cases of ``--changed-twice-cases``), asks for C, reverts C and
asks for B.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from serving.core.errors import ConflictError, PalimpsestError
from serving.core.generation import SamplingParams
from serving.services import Runtime
from serving.services.updates import Update

from .host import run_settings, scratch_runtime

@dataclass(frozen=True)
class Change:
    """A subject whose object changes twice: ``objects`` are A, B and C in order; ``statement`` (with
    {subject} and {object}) is each update, or ``statements`` one per object (a change worded its own
    way: "has joined", "moved to"); ``question`` (with {subject}) what is asked."""

    subject: str
    objects: tuple[str, str, str]
    statement: str = "{subject} works for {object}."
    question: str = "Who does {subject} work for?"
    statements: tuple[str, ...] = ()

    def update(self, step: int) -> str:
        """The statement that makes ``objects[step]`` the subject's object."""
        template = self.statements[step] if self.statements else self.statement
        return template.format(subject=self.subject, object=self.objects[step])


CHANGED_TWICE: tuple[Change, ...] = tuple(Change(person, objects) for person, *objects in (
    ("Ilse Varga", "Ostrander Mills", "Harrowgate Foods", "Brightwater Optics"),
    ("Tomas Ferrand", "Quillby Shipping", "Marrowind Software", "Castell Ropeworks"),
    ("Anneke Olsberg", "Duvall Pharmaceuticals", "Pemberton Glassworks", "Lindqvist Motors"),
    ("Rafael Ostrowski", "Northwick Bank", "Sallow Creek Farms", "Veridian Textiles"),
    ("Mira Kettering", "Tallis Aerospace", "Greyhollow Press", "Ambercott Logistics"),
    ("Joost Hallander", "Wendmoor Energy", "Fenwick Toys", "Calder Bay Insurance"),
    ("Priya Lanstead", "Orvell Robotics", "Stonebridge Dairy", "Halvorsen Tea Company"),
))
"""Invented people and three successive employers (A, B, C); none of them is in any dataset."""


def load_changes(path: Path) -> tuple[Change, ...]:
    """JSON lines of ``{"subject", "objects": [A, B, C], "statement"?, "statements"?, "question"?}``
    (templates as in :class:`Change`); ``ValueError`` names the first bad line."""
    changes = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            change = Change(row["subject"], tuple(row["objects"]), **{k: row[k] for k in ("statement", "question") if k in row},
                            statements=tuple(row.get("statements", ())))
            templates = change.statements or (change.statement,) * 3
            if len(change.objects) != 3 or len(templates) != 3 or any("{object}" not in t for t in templates):
                raise ValueError("three objects and statements with {object} are needed")
            [t.format(subject="", object="") for t in templates], change.question.format(subject="")
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"{path}:{number}: not a change ({exc!r})") from None
        changes.append(change)
    return tuple(changes)


@dataclass
class Question:
    text: str
    expected: list[str]
    """The object and its aliases; an answer naming any of them is a hit."""
    kind: str = "single_hop"
    exact: bool = False
    """Hit only when the answer equals ``expected[0]`` (an unrelated question's answer before the updates)."""

    def hit(self, answer: str) -> bool:
        if self.exact:
            return answer.strip() == self.expected[0].strip()
        return any(re.search(rf"(?<!\w){re.escape(e.strip())}(?!\w)", answer, re.IGNORECASE)
                   for e in self.expected if e.strip())


@dataclass
class Rewrite:
    statement: str
    subject: str
    target: str
    question: Question


@dataclass
class Outcome:
    """What one configuration measured."""

    single_hop: list[bool] = field(default_factory=list)
    multi_hop: list[bool] = field(default_factory=list)
    unchanged: list[bool] = field(default_factory=list)
    first_sentence_unchanged: list[bool] = field(default_factory=list)
    grounded: list[bool] = field(default_factory=list)
    unrelated_grounded: list[bool] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    routes: Counter = field(default_factory=Counter)
    guard_reverted: int = 0


def first_sentence(text: str) -> str:
    """The answer up to its first full stop, question or exclamation mark (all of it when none)."""
    return re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]


def _rate(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def rewrites_of(cases: list[dict]) -> list[Rewrite]:
    """Each distinct requested rewrite as a statement and its own single-hop question."""
    out, seen = [], set()
    for case in cases:
        for rw in case["requested_rewrite"]:
            target = rw["target_new"]["str"]
            cloze = rw["prompt"].format(rw["subject"])
            if (cloze, target) in seen:
                continue
            seen.add((cloze, target))
            hop = next((h for h in case.get("new_single_hops", []) if h["answer"] == target), None)
            if hop is not None:
                question = Question(hop["question"], [target, *hop.get("answer_alias", [])])
            else:
                question = Question(rw.get("question") or cloze, [target])
            out.append(Rewrite(f"{cloze} {target}.", rw["subject"], target, question))
    return out


def multi_hop_of(cases: list[dict]) -> list[Question]:
    return [Question(c["questions"][0], [c["new_answer"], *c.get("new_answer_alias", [])], "multi_hop")
            for c in cases if c.get("questions")]


def unrelated_of(others: list[dict], edited: list[Rewrite], n: int) -> list[str]:
    """The first single hop of each case in ``others`` that names no edited subject or target."""
    names = {w.subject.lower() for w in edited} | {w.target.lower() for w in edited}
    out: list[str] = []
    for case in others:
        if len(out) >= n:
            break
        for hop in case.get("single_hops", []):
            q = hop["question"]
            if q not in out and not any(name in q.lower() for name in names):
                out.append(q)
                break
    return out


def ask(runtime: Runtime, question: str, max_tokens: int) -> tuple[str, list[dict]]:
    """The chat answer at temperature 0, and the citations it was grounded in."""
    params = SamplingParams(max_tokens, 0.0, 1.0, [], 0)
    ids, params, citations = runtime.chat.chat_ids([{"role": "user", "content": question}], params)
    return "".join(p.text for p in runtime.chat.pieces(ids, params)).strip(), citations


def at_base(runtime: Runtime) -> dict[str, Any]:
    """Whether the weights are the base bits, no entry is applied and the memory holds nothing."""
    engine, stats = runtime.engine, runtime.memory.stats()
    checks = {
        "fingerprint": engine.host.fingerprint() == engine.base_fingerprint,
        "no_applied_entries": not engine.applied(),
        "memory_empty": runtime.memory.is_empty() and not any(stats.values()),
    }
    return {"back_to_base": all(checks.values()), **checks, "memory_stats": stats}


class Evaluation:
    """Asks, records and reverts on one runtime; ``records`` gets one JSON line per answer."""

    def __init__(self, runtime: Runtime, max_tokens: int, records: TextIO | None = None) -> None:
        self.runtime, self.max_tokens, self.records = runtime, max_tokens, records

    def answer(self, config: str, question: Question) -> tuple[str, bool, bool]:
        """The answer, whether it hits, and whether it was grounded; recorded."""
        answer, citations = ask(self.runtime, question.text, self.max_tokens)
        hit, grounded = question.hit(answer), bool(citations)
        if self.records is not None:
            row = {"config": config, "kind": question.kind, "question": question.text,
                   "expected": question.expected, "answer": answer, "hit": hit, "grounded": grounded,
                   "facts": [c["text"] for c in citations if c["type"] == "fact"]}
            self.records.write(json.dumps(row) + "\n")
            self.records.flush()
        return answer, hit, grounded

    def apply(self, statement: str, route: str, outcome: Outcome) -> str | None:
        """Apply one statement as ``/v1/updates`` does; the entry id, or None when it was rejected."""
        started = time.perf_counter()
        try:
            result = self.runtime.updates.apply(Update(text=statement, route=route))
        except PalimpsestError as exc:
            outcome.routes["rejected"] += 1
            _log(f"  rejected {statement!r}: {exc}")
            return None
        outcome.seconds.append(time.perf_counter() - started)
        outcome.routes[result.route] += 1
        outcome.guard_reverted += "edit_reverted_by_guard" in result.entry.details
        return result.entry.id

    def revert(self, entry_ids: list[str]) -> None:
        """Revert these entries, newest first (entries the guard already reverted are skipped)."""
        for entry_id in reversed(entry_ids):
            if self.runtime.engine.history.get(entry_id).status == "applied":
                self.runtime.engine.revert(entry_id)

    def configuration(
        self, route: str, rewrites: list[Rewrite], multi: list[Question], unrelated: list[Question]
    ) -> dict[str, Any]:
        """Apply every rewrite through ``route``, ask, revert everything, check the base."""
        outcome, entries = Outcome(), []
        for i, rw in enumerate(rewrites):
            entry_id = self.apply(rw.statement, route, outcome)
            entries += [entry_id] if entry_id else []
            _log(f"[{route}] update {i + 1}/{len(rewrites)}: {outcome.routes.most_common()}")
        for rw in rewrites:
            _, hit, grounded = self.answer(route, rw.question)
            outcome.single_hop.append(hit)
            outcome.grounded.append(grounded)
        outcome.multi_hop = [self.answer(route, q)[1] for q in multi]
        for q in unrelated:
            answer, unchanged, grounded = self.answer(route, q)
            outcome.unchanged.append(unchanged)
            outcome.first_sentence_unchanged.append(first_sentence(answer) == first_sentence(q.expected[0]))
            outcome.unrelated_grounded.append(grounded)
        _log(f"[{route}] single-hop {_rate(outcome.single_hop)}, multi-hop {_rate(outcome.multi_hop)}, "
             f"locality {_rate(outcome.unchanged)}; reverting {len(entries)} entries")
        self.revert(entries)
        return {
            "single_hop_hit_rate": _rate(outcome.single_hop),
            "multi_hop_rate": _rate(outcome.multi_hop),
            "locality": _rate(outcome.unchanged),
            "locality_first_sentence": _rate(outcome.first_sentence_unchanged),
            "single_hop_grounded": _rate(outcome.grounded),
            "unrelated_grounded": _rate(outcome.unrelated_grounded),
            "seconds_per_update": round(sum(outcome.seconds) / len(outcome.seconds), 3) if outcome.seconds else None,
            "routes": dict(outcome.routes),
            "guard_reverted": outcome.guard_reverted,
            "n": {"rewrites": len(rewrites), "multi_hop": len(multi), "unrelated": len(unrelated)},
            **at_base(self.runtime),
        }

    def changed_twice(self, route: str, changes: tuple[Change, ...] = CHANGED_TWICE) -> dict[str, Any]:
        """A, B, C as successive objects of each subject; ask (expect C), revert C, ask (expect B)."""
        outcome, entries, newest = Outcome(), [], {}
        for step in range(3):
            for i, c in enumerate(changes):
                entry_id = self.apply(c.update(step), route, outcome)
                entries += [entry_id] if entry_id else []
                if step == 2 and entry_id:
                    newest[i] = entry_id
        config = f"changed_twice:{route}"

        def asked(c: Change, expected: str, kind: str) -> bool:
            return self.answer(config, Question(c.question.format(subject=c.subject), [expected], kind))[1]

        now = [asked(c, c.objects[2], "newest") for c in changes]
        for i in newest:
            self.revert([newest[i]])
        then = [asked(c, c.objects[1], "after_revert") for c in changes]
        _log(f"[changed twice, {route}] newest {_rate(now)}, after revert {_rate(then)}")
        self.revert(entries)
        return {"route": route, "n": len(changes), "newest": _rate(now), "after_revert": _rate(then),
                "routes": dict(outcome.routes), **at_base(self.runtime)}


def evaluate(
    runtime: Runtime,
    data: list[dict],
    n: int,
    offset: int = 0,
    configs: tuple[str, ...] = ("auto", "memory", "edit"),
    unrelated: int = 10,
    max_tokens: int = 24,
    changed_twice: str | None = "auto",
    records: TextIO | None = None,
    changes: tuple[Change, ...] = CHANGED_TWICE,
) -> dict[str, Any]:
    """The report on a runtime that starts at its base (no applied entry, empty memory).

    ``data`` is the whole MQuAKE list: cases ``offset .. offset + n`` are edited, the following ones
    (then the preceding ones) give the unrelated questions. ``changed_twice``: a route, or None.
    """
    start = at_base(runtime)
    if not start["back_to_base"]:
        raise ConflictError(f"the runtime is not at its base ({start}); give an empty --home")
    cases = data[offset : offset + n]
    rewrites = rewrites_of(cases)
    multi = multi_hop_of(cases)
    run = Evaluation(runtime, max_tokens, records)
    unrelated_qs = []
    for text in unrelated_of(data[offset + n :] + data[:offset], rewrites, unrelated):
        answer, _, _ = run.answer("base", Question(text, [], "unrelated_before"))
        unrelated_qs.append(Question(text, [answer], "unrelated", exact=True))
    _log(f"[base] asking {len(rewrites)} single-hop and {len(multi)} multi-hop questions")
    base = {
        "single_hop_hit_rate": _rate([run.answer("base", rw.question)[1] for rw in rewrites]),
        "multi_hop_rate": _rate([run.answer("base", q)[1] for q in multi]),
    }
    report: dict[str, Any] = {
        "cases": f"{offset}..{offset + len(cases) - 1}",
        "base": base,
        "configs": {route: run.configuration(route, rewrites, multi, unrelated_qs) for route in configs},
    }
    if changed_twice:
        report["changed_twice"] = run.changed_twice(changed_twice, changes)
    return report


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    """The report of ``palimpsest eval updates`` (options as in ``serving.cli.eval``)."""
    configs = tuple(c.strip() for c in args.configs.split(",") if c.strip())
    data = json.loads(Path(args.data).read_text(encoding="utf-8"))
    changes = load_changes(args.changed_twice_cases) if args.changed_twice_cases else CHANGED_TWICE
    with scratch_runtime(args) as (runtime, records):
        started = time.perf_counter()
        report = evaluate(runtime, data, args.n, args.offset, configs, args.unrelated, args.max_tokens,
                          None if args.changed_twice == "none" else args.changed_twice, records, changes)
    return {**report, "wall_seconds": round(time.perf_counter() - started, 1), "settings": run_settings(args, runtime)}
