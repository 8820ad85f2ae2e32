"""Passage recall of graph retrieval vs. a dense-only baseline on HippoRAG's QA samples.

    palimpsest eval memory --questions musique_train.json --corpus musique_train_corpus.json \
        [--openie openie_musique_...json] [--n 100] [--extractor rule|llm] [--subset]

Prints one JSON object: Recall@2 / @5 of supporting passages for both retrievers (same embedder,
same faiss index, same run), ingest seconds per passage, and search latency.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from memory.embed import SentenceTransformerEmbedder
from memory.evaluate import gold_passages, ingest_corpus, load_corpus, load_openie, question_passages, retrieval_recall
from memory.extract import Extraction
from memory.extractors import build_extractor
from memory.retrieve import RetrievalConfig
from memory.store import GraphMemory, MemoryConfig, Passage

from serving.core.model_loader import resolve_device

from .host import evaluation_settings, load_host


def _progress(frac: float, msg: str) -> None:
    print(f"[{frac:5.1%}] {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    """The report of ``palimpsest eval memory`` (options as in ``serving.cli.eval``)."""
    given = {
        "linking_top_k": args.linking_top_k, "passage_node_weight": args.passage_node_weight, "damping": args.damping
    }
    retrieval = RetrievalConfig(**{k: v for k, v in given.items() if v is not None})
    settings = evaluation_settings(model=args.model, device=args.device, embedder=args.embedder)
    stop = None if args.n is None else args.offset + args.n
    questions = json.loads(args.questions.read_text(encoding="utf-8"))[args.offset : stop]
    golds = [gold_passages(q) for q in questions]
    corpus = load_corpus(args.corpus)
    if args.subset:
        wanted = set().union(*(question_passages(q) for q in questions))
        corpus = [p for p in corpus if p in wanted]
    corpus = list(dict.fromkeys(corpus))
    ids = {text: f"c{i}" for i, text in enumerate(corpus)}

    embedder = SentenceTransformerEmbedder(settings.embedder, device=str(resolve_device(settings)))
    if args.openie:
        openie = load_openie(args.openie)
        extractions = [openie.get(p, Extraction()) for p in corpus]
        extractor, name = build_extractor("rule"), "hipporag-openie"
    else:
        extractions, name = None, args.extractor
        kwargs = {}
        if args.extractor == "llm":
            host = load_host(settings)
            kwargs = {"model": host.model, "tokenizer": host.tokenizer}
            name = f"llm:{Path(settings.model).name}"
        extractor = build_extractor(args.extractor, **kwargs)
    memory = GraphMemory(args.store, embedder, extractor, MemoryConfig(retrieval=retrieval))

    ingest_s = ingest_corpus(memory, [Passage(ids[t], t) for t in corpus], extractions, _progress)
    scores = retrieval_recall(memory, [(q, {ids[g] for g in gold if g in ids}) for q, gold in golds])
    result = {
        "questions": f"{args.offset}..{args.offset + len(golds) - 1}",
        "passages": len(corpus),
        "extraction": name,
        "retrieval": vars(retrieval),
        "embedder": embedder.name,
        "graph": scores["graph"],
        "dense": scores["dense"],
        "ingest_seconds_per_passage": None if ingest_s is None else round(ingest_s / max(len(corpus), 1), 4),
        "search_ms_p50": scores["search_ms_p50"],
        "stats": memory.stats(),
    }
    result["graph_minus_dense@5"] = round(result["graph"]["recall@5"] - result["dense"]["recall@5"], 2)
    return result
