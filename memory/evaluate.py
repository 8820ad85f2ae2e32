"""Passage recall of graph retrieval vs. a dense-only baseline on HippoRAG's QA samples.

    python -m memory.evaluate --questions musique_train.json --corpus musique_train_corpus.json \
        [--openie openie_musique_...json] [--n 100] [--extractor rule|llm] [--subset]

Prints one JSON object: Recall@2 / @5 of supporting passages for both retrievers (same embedder,
same faiss index, same run), ingest seconds per passage, and search latency.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from memory.extract import Extraction
from memory.extractors import build_extractor
from memory.retrieve import RetrievalConfig
from memory.store import GraphMemory, MemoryConfig, Passage


def resolve_model(arg: str | None) -> str:
    """--model, else $PALIMPSEST_MODEL, else the converted default model in the cache directory."""
    if arg:
        return arg
    if os.environ.get("PALIMPSEST_MODEL"):
        return os.environ["PALIMPSEST_MODEL"]
    if os.environ.get("PALIMPSEST_CACHE"):
        cache = Path(os.environ["PALIMPSEST_CACHE"])
    elif os.environ.get("PALIMPSEST_HOME"):
        cache = Path(os.environ["PALIMPSEST_HOME"]) / "cache"
    else:
        cache = Path.home() / ".palimpsest" / "cache"
    path = cache / "models" / "SmolLM2-135M-Instruct"
    if not path.exists():
        sys.exit(f"no model at {path}: run `palimpsest prepare` once (it converts the embedded model), or pass --model")
    return str(path)


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


def load_openie(path: Path) -> dict[str, Extraction]:
    docs = json.loads(path.read_text(encoding="utf-8"))["docs"]
    return {d["passage"]: Extraction(d.get("extracted_entities") or [], d.get("extracted_triples") or []) for d in docs}


def recall(ranked: list[str], gold: set[str], k: int) -> float:
    return len(gold & set(ranked[:k])) / max(len(gold), 1)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--openie", type=Path, help="HippoRAG OpenIE results for the corpus (skips extraction)")
    ap.add_argument("--offset", type=int, default=0, help="skip the first K questions (e.g. a tuning split)")
    ap.add_argument("--n", type=int, default=None, help="evaluate N questions (after --offset)")
    ap.add_argument("--subset", action="store_true", help="index only the passages of the N questions")
    ap.add_argument("--extractor", default="rule", help="extractor when --openie is not given: rule | llm")
    ap.add_argument("--model", help="model for --extractor llm (default: see resolve_model)")
    ap.add_argument("--embedder", help="sentence-transformers path or id (default all-MiniLM-L6-v2)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--store", type=Path, help="keep the built memory here; reuse it if it holds the same corpus")
    ap.add_argument("--passage-node-weight", type=float, default=RetrievalConfig.passage_node_weight)
    ap.add_argument("--linking-top-k", type=int, default=RetrievalConfig.linking_top_k)
    ap.add_argument("--damping", type=float, default=RetrievalConfig.damping)
    args = ap.parse_args(argv)
    retrieval = RetrievalConfig(
        linking_top_k=args.linking_top_k, passage_node_weight=args.passage_node_weight, damping=args.damping
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    if args.offset < 0:
        sys.exit("--offset must be >= 0")
    stop = None if args.n is None else args.offset + args.n
    questions = json.loads(args.questions.read_text(encoding="utf-8"))[args.offset : stop]
    golds = [gold_passages(q) for q in questions]
    corpus = load_corpus(args.corpus)
    if args.subset:
        wanted = set()
        for q in questions:
            wanted |= {f"{p['title']}\n{p['paragraph_text']}" for p in q.get("paragraphs", [])} or {
                f"{t}\n{''.join(s)}" for t, s in q.get("context", [])
            }
        corpus = [p for p in corpus if p in wanted]
    corpus = list(dict.fromkeys(corpus))
    ids = {text: f"c{i}" for i, text in enumerate(corpus)}

    from memory.embed import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(args.embedder, device=args.device)
    if args.openie:
        openie = load_openie(args.openie)
        extractions = [openie.get(p, Extraction()) for p in corpus]
        extractor, name = build_extractor("rule"), "hipporag-openie"
    else:
        extractions, name = None, args.extractor
        kwargs = {}
        if args.extractor == "llm":
            from transformers import AutoModelForCausalLM, AutoTokenizer

            path = resolve_model(args.model)
            tok = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path).to(args.device).eval()
            kwargs = {"model": model, "tokenizer": tok}
            name = f"llm:{Path(path).name}"
        extractor = build_extractor(args.extractor, **kwargs)
    memory = GraphMemory(args.store, embedder, extractor, MemoryConfig(retrieval=retrieval))

    def progress(frac: float, msg: str) -> None:
        print(f"[{frac:5.1%}] {msg}", file=sys.stderr, flush=True)

    passages = [Passage(ids[t], t) for t in corpus]
    reused = set(memory.passage_data) == set(ids.values()) and all(memory.passage_data[p.id].text == p.text for p in passages)
    ingest_s = float("nan")
    if not reused:
        for ingest_id in memory.ingest_ids():
            memory.remove(ingest_id)
        start = time.perf_counter()
        memory.ingest_passages(passages, extractions=extractions, progress=progress, grounded=extractions is None)
        ingest_s = time.perf_counter() - start

    rows = {"graph": {2: [], 5: []}, "dense": {2: [], 5: []}}
    latency = []
    for question, gold in golds:
        gold_ids = {ids[g] for g in gold if g in ids}
        t0 = time.perf_counter()
        graph = [h["id"] for h in memory.search(question, 5)]
        latency.append(time.perf_counter() - t0)
        dense = [h["id"] for h in memory.dense_search(question, 5)]
        for k in (2, 5):
            rows["graph"][k].append(recall(graph, gold_ids, k))
            rows["dense"][k].append(recall(dense, gold_ids, k))
    result = {
        "questions": f"{args.offset}..{args.offset + len(golds) - 1}",
        "passages": len(corpus),
        "extraction": name,
        "retrieval": vars(retrieval),
        "embedder": embedder.name,
        "graph": {f"recall@{k}": round(100 * float(np.mean(v)), 2) for k, v in rows["graph"].items()},
        "dense": {f"recall@{k}": round(100 * float(np.mean(v)), 2) for k, v in rows["dense"].items()},
        "ingest_seconds_per_passage": None if reused else round(ingest_s / max(len(corpus), 1), 4),
        "search_ms_p50": round(1000 * float(np.median(latency)), 2),
        "stats": memory.stats(),
    }
    result["graph_minus_dense@5"] = round(result["graph"]["recall@5"] - result["dense"]["recall@5"], 2)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
