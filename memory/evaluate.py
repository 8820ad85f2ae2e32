"""Passage recall of graph retrieval vs. a dense-only baseline on HippoRAG's QA samples
(`palimpsest eval memory` runs it): the data readers, the ingest and the per-question scores.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from memory.extract import Extraction
from memory.store import GraphMemory, Passage


def load_corpus(path: Path) -> list[str]:
    """Passages as "title\\ntext" (HippoRAG's convention); MuSiQue lists or HotpotQA title->sentences dicts."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        return [f"{title}\n{''.join(sents)}" for title, sents in data.items()]
    return [f"{row['title']}\n{row['text']}" for row in data]


def gold_passages(question: dict) -> tuple[str, set[str]]:
    """(question text, supporting passage texts) for MuSiQue (`paragraphs`) or HotpotQA (`supporting_facts`)."""
    if "paragraphs" in question:
        gold = {f"{p['title']}\n{p['paragraph_text']}" for p in question["paragraphs"] if p["is_supporting"]}
    else:
        titles = {t for t, _ in question["supporting_facts"]}
        gold = {f"{t}\n{''.join(s)}" for t, s in question["context"] if t in titles}
    return question["question"], gold


def question_passages(question: dict) -> set[str]:
    """Every passage shown with the question (supporting or not), as "title\\ntext"."""
    return {f"{p['title']}\n{p['paragraph_text']}" for p in question.get("paragraphs", [])} or {
        f"{t}\n{''.join(s)}" for t, s in question.get("context", [])
    }


def load_openie(path: Path) -> dict[str, Extraction]:
    docs = json.loads(path.read_text(encoding="utf-8"))["docs"]
    return {d["passage"]: Extraction(d.get("extracted_entities") or [], d.get("extracted_triples") or []) for d in docs}


def recall(ranked: list[str], gold: set[str], k: int) -> float:
    return len(gold & set(ranked[:k])) / max(len(gold), 1)


def ingest_corpus(
    memory: GraphMemory,
    passages: list[Passage],
    extractions: list[Extraction] | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> float | None:
    """Seconds to ingest `passages` into an emptied memory; None when it already holds exactly them."""
    reused = set(memory.passage_data) == {p.id for p in passages} and all(
        memory.passage_data[p.id].text == p.text for p in passages
    )
    if reused:
        return None
    for ingest_id in memory.ingest_ids():
        memory.remove(ingest_id)
    start = time.perf_counter()
    memory.ingest_passages(passages, extractions=extractions, progress=progress, grounded=extractions is None)
    return time.perf_counter() - start


def retrieval_recall(memory: GraphMemory, questions: list[tuple[str, set[str]]]) -> dict:
    """Recall@2 / @5 (percent) of the gold passage ids for graph search and dense search, and the
    graph search's median latency; `questions` holds (question text, gold passage ids)."""
    rows = {"graph": {2: [], 5: []}, "dense": {2: [], 5: []}}
    latency = []
    for question, gold_ids in questions:
        t0 = time.perf_counter()
        graph = [h["id"] for h in memory.search(question, 5)]
        latency.append(time.perf_counter() - t0)
        dense = [h["id"] for h in memory.dense_search(question, 5)]
        for k in (2, 5):
            rows["graph"][k].append(recall(graph, gold_ids, k))
            rows["dense"][k].append(recall(dense, gold_ids, k))
    return {
        "graph": {f"recall@{k}": round(100 * float(np.mean(v)), 2) for k, v in rows["graph"].items()},
        "dense": {f"recall@{k}": round(100 * float(np.mean(v)), 2) for k, v in rows["dense"].items()},
        "search_ms_p50": round(1000 * float(np.median(latency)), 2),
    }
