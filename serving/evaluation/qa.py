"""Answer quality with the memory against closed-book, on HippoRAG's QA samples, through the chat path.

    palimpsest eval qa --questions hotpotqa_train.json --corpus hotpotqa_train_corpus.json \
        --n 30 [--subset] [--prompts default,short] [--max-tokens 32]

The corpus (or, with ``--subset``, only the passages shown with the selected questions: their
supporting passages and distractors) is ingested through ``MemoryService.add_documents``, as
``POST /v1/memory/documents`` does, on a scratch home. Each question is then asked through
``ChatService`` at temperature 0 three ways: ``closed_book`` (``memory=False``), ``gate``
(``memory=None``: what a user gets, the relevance gate decides) and ``forced`` (``memory=True``).

Scores per answer, best over the gold answer and its aliases: SQuAD's normalised token F1 and exact
match (lower case, no punctuation, no articles), and ``contains`` (the normalised gold answer
appears in the normalised answer as whole words). For grounded answers, whether the supporting
passages were among the cited ones. The ``short`` prompt adds a system message asking for a short
answer (F1 punishes long ones); it is reported separately from ``default`` (the user's question
alone). Ratios are each memory configuration's mean over closed-book's, per prompt.
"""

from __future__ import annotations

import argparse
import json
import re
import string
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from memory.evaluate import gold_passages, load_corpus, question_passages
from memory.store import Document

from serving.core.errors import ConflictError
from serving.core.generation import SamplingParams
from serving.services import Runtime

from .host import run_settings, scratch_runtime

CONFIGS: dict[str, bool | None] = {"closed_book": False, "gate": None, "forced": True}
"""Configuration -> the chat request's ``memory``."""

SHORT_ANSWER = "Answer the question with only the answer: a name, a date, a number, yes or no, or a few words."
"""The system message of the ``short`` prompt."""

PROMPTS = ("default", "short")

_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles (a, an, the), single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def answer_f1(prediction: str, gold: str) -> float:
    """SQuAD's token F1 of the normalised prediction against the normalised gold answer."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def score_answer(prediction: str, golds: list[str]) -> dict[str, float]:
    """F1, exact match and ``contains``, each the best over the gold answer and its aliases."""
    pred = normalize_answer(prediction)
    golds = [g for g in golds if normalize_answer(g)]
    return {
        "f1": max((answer_f1(prediction, g) for g in golds), default=0.0),
        "em": float(any(pred == normalize_answer(g) for g in golds)),
        "contains": float(any(f" {normalize_answer(g)} " in f" {pred} " for g in golds)),
    }


@dataclass
class Item:
    question: str
    answers: list[str]
    """The gold answer and its aliases."""
    supporting: set[str]
    """Ids of the supporting passages (as ingested)."""


def load_items(
    questions: list[dict], corpus: list[str], subset: bool
) -> tuple[list[Item], list[Document]]:
    """The questions with their gold answers and supporting passage ids, and the documents to ingest:
    the whole corpus, or with ``subset`` the passages shown with these questions (MuSiQue or HotpotQA format)."""
    if subset:
        wanted = set().union(*(question_passages(q) for q in questions))
        corpus = [p for p in corpus if p in wanted]
    corpus = list(dict.fromkeys(corpus))
    ids = {text: f"c{i}" for i, text in enumerate(corpus)}
    items = []
    for q in questions:
        text, gold = gold_passages(q)
        answers = [str(q["answer"]), *q.get("answer_aliases", [])]
        items.append(Item(text, answers, {ids[g] for g in gold if g in ids}))
    return items, [Document(text, id=ids[text]) for text in corpus]


def ingest(runtime: Runtime, documents: list[Document]) -> float:
    """Seconds to add the documents through the memory service, ``max_documents`` per history entry."""
    started, batch = time.perf_counter(), runtime.settings.max_documents
    for i in range(0, len(documents), batch):
        runtime.memory.add_documents(documents[i : i + batch])
        _log(f"[ingest] {min(i + batch, len(documents))}/{len(documents)} documents")
    return time.perf_counter() - started


def ask(runtime: Runtime, question: str, memory: bool | None, prompt: str, max_tokens: int) -> tuple[str, list[dict]]:
    """The chat answer at temperature 0 and its citations."""
    messages = [{"role": "user", "content": question}]
    if prompt == "short":
        messages.insert(0, {"role": "system", "content": SHORT_ANSWER})
    ids, params, citations = runtime.chat.chat_ids(messages, SamplingParams(max_tokens, temperature=0.0), memory)
    return "".join(p.text for p in runtime.chat.pieces(ids, params)).strip(), citations


def cited_passages(citations: list[dict]) -> set[str]:
    """Ids of the cited passages, a split document's pieces (``c7#1``) as the document (``c7``)."""
    return {c["id"].split("#", 1)[0] for c in citations if c["type"] == "passage"}


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def summarize(rows: list[dict]) -> dict[str, Any]:
    """Means of one configuration's records (one prompt)."""
    out: dict[str, Any] = {m: _mean([r[m] for r in rows]) for m in ("f1", "em", "contains")}
    out["grounded"] = _mean([float(r["grounded"]) for r in rows])
    with_gold = [r for r in rows if r["supporting"]]
    out["supporting_recall"] = _mean([len(set(r["cited"]) & set(r["supporting"])) / len(r["supporting"])
                                      for r in with_gold])
    out["supporting_all_cited"] = _mean([float(set(r["supporting"]) <= set(r["cited"])) for r in with_gold])
    out["n"] = len(rows)
    return out


def evaluate(
    runtime: Runtime,
    items: list[Item],
    prompts: tuple[str, ...] = ("default",),
    max_tokens: int = 32,
    records: TextIO | None = None,
    configs: tuple[str, ...] = tuple(CONFIGS),
) -> dict[str, Any]:
    """Per prompt: each configuration's mean scores and, with closed-book among them, the memory
    configurations' ratios over it. The runtime's memory holds the corpus already."""
    report: dict[str, Any] = {}
    for prompt in prompts:
        rows: dict[str, list[dict]] = {c: [] for c in configs}
        for i, item in enumerate(items):
            for config in configs:
                answer, citations = ask(runtime, item.question, CONFIGS[config], prompt, max_tokens)
                cited = sorted(cited_passages(citations))
                row = {"prompt": prompt, "config": config, "question": item.question, "gold": item.answers,
                       "answer": answer, **score_answer(answer, item.answers), "grounded": bool(citations),
                       "cited": cited, "supporting": sorted(item.supporting)}
                rows[config].append(row)
                if records is not None:
                    records.write(json.dumps(row) + "\n")
                    records.flush()
            _log(f"[{prompt}] {i + 1}/{len(items)}: " + ", ".join(
                f"{c} f1 {_mean([r['f1'] for r in rs])}" for c, rs in rows.items()))
        result = {c: summarize(rs) for c, rs in rows.items()}
        if "closed_book" in result:
            closed = result["closed_book"]
            result["ratios"] = {
                f"{c}/closed_book": {m: _ratio(result[c][m], closed[m]) for m in ("f1", "em", "contains")}
                for c in configs if c != "closed_book"}
        report[prompt] = result
    return report


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    """The report of ``palimpsest eval qa`` (options as in ``serving.cli.eval``)."""
    prompts = tuple(p.strip() for p in args.prompts.split(",") if p.strip())
    chosen = {name.strip() for name in args.configs.split(",")}
    configs = tuple(c for c in CONFIGS if c in chosen)
    stop = None if args.n is None else args.offset + args.n
    questions = json.loads(Path(args.questions).read_text(encoding="utf-8"))[args.offset : stop]
    items, documents = load_items(questions, load_corpus(Path(args.corpus)), args.subset)
    with scratch_runtime(args) as (runtime, records):
        if not runtime.memory.is_empty():
            raise ConflictError(f"the memory under {runtime.settings.home} is not empty; give an empty --home")
        started = time.perf_counter()
        ingest_s = ingest(runtime, documents)
        report = evaluate(runtime, items, prompts, args.max_tokens, records, configs)
        stats = runtime.memory.stats()
    return {
        "questions": f"{args.offset}..{args.offset + len(items) - 1} of {Path(args.questions).name}",
        "documents": len(documents),
        "ingest_seconds": round(ingest_s, 1),
        "memory_stats": stats,
        "prompts": report,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "settings": run_settings(args, runtime),
    }
