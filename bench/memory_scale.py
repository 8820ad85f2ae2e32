"""Graph memory at scale: ingest cost per passage at 1,000 vs 10,000 passages, retrieval latency.

    python bench/memory_scale.py [--passages 10000] [--batch 100] [--queries 200]

Synthetic invented corpus (each passage introduces new entities and mentions older ones), the
deterministic extractor, and a hashing embedder, so the numbers measure the memory itself
(graph, faiss, synonym kNN, journal) rather than the encoder; the all-MiniLM-L6-v2 query encoding
time is measured separately and added for the end-to-end retrieval figure. Prints JSON with ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from memory.embed import HashingEmbedder
from memory.extract import RuleExtractor
from memory.store import GraphMemory, Passage

SYLLABLES = "ka lo mer vin dra tor sel qua bri nex ol fen gar ris tam pel vor ush zen dal".split()
VERBS = ["was born in", "moved to", "founded", "married", "wrote about", "worked for", "visited", "sold land to"]


def name(rng: random.Random) -> str:
    word = lambda: "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()  # noqa: E731
    return f"{word()} {word()}" if rng.random() < 0.6 else word()


def corpus(n: int, seed: int = 0) -> list[Passage]:
    rng = random.Random(seed)
    known: list[str] = []
    out = []
    for i in range(n):
        new = [name(rng) for _ in range(2)]
        old = rng.sample(known, 2) if len(known) > 10 else [name(rng), name(rng)]
        a, b, c, d = new + old
        year = rng.randint(1700, 2000)
        text = (
            f"{a} {rng.choice(VERBS)} {c} in {year}. {a} {rng.choice(VERBS)} {b}. "
            f"{b} {rng.choice(VERBS)} {d}."
        )
        known += new
        out.append(Passage(f"s{i}", text))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=100, help="passages per ingest")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--window", type=int, default=5, help="batches averaged around each measuring point")
    args = ap.parse_args()

    passages = corpus(args.passages)
    per_passage = []
    with tempfile.TemporaryDirectory() as tmp:
        mem = GraphMemory(Path(tmp) / "memory", HashingEmbedder(384), RuleExtractor())
        for i in range(0, len(passages), args.batch):
            batch = passages[i : i + args.batch]
            t0 = time.perf_counter()
            mem.ingest_passages(batch)
            per_passage.append((i + len(batch), (time.perf_counter() - t0) / len(batch)))

        def cost_at(size: int) -> float:
            idx = min(range(len(per_passage)), key=lambda j: abs(per_passage[j][0] - size))
            lo = max(0, idx - args.window // 2)
            return float(np.median([c for _, c in per_passage[lo : lo + args.window]]))

        small = min(1000, args.passages // 10)
        rng = random.Random(1)
        questions = [f"Who did {p.text.split(' ')[0]} visit after moving?" for p in rng.sample(passages, args.queries)]
        vecs = mem.embedder.encode(questions)
        mem.search(questions[0], 5)  # builds the cached PageRank matrix once
        lat = []
        for q in vecs:
            t0 = time.perf_counter()
            with mem._lock:
                mem._rank(q, 5, graph=True)
            lat.append(time.perf_counter() - t0)
        stats = mem.stats()

    from memory.embed import SentenceTransformerEmbedder

    minilm = SentenceTransformerEmbedder()
    minilm.encode(["warm up"])
    enc = []
    for q in questions[:50]:
        t0 = time.perf_counter()
        minilm.encode([q])
        enc.append(time.perf_counter() - t0)
    ranking_ms, encode_ms = 1000 * float(np.median(lat)), 1000 * float(np.median(enc))
    result = {
        "stats": stats,
        f"ingest_ms_per_passage_at_{small}": round(1000 * cost_at(small), 3),
        f"ingest_ms_per_passage_at_{args.passages}": round(1000 * cost_at(args.passages), 3),
        "ingest_cost_ratio": round(cost_at(args.passages) / cost_at(small), 3),
        f"retrieval_ms_p50_at_{args.passages}_excluding_query_encoding": round(ranking_ms, 2),
        "retrieval_ms_p95_excluding_query_encoding": round(1000 * float(np.percentile(lat, 95)), 2),
        "minilm_query_encoding_ms_p50": round(encode_ms, 2),
        "retrieval_ms_p50_with_minilm_encoding": round(ranking_ms + encode_ms, 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
