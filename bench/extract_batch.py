"""OpenIE with the hosted model: passages per second one at a time against batched, in one process.

    python bench/extract_batch.py --corpus musique_train_corpus.json --n 16 --batches 1,8,16

The same first ``--n`` passages of a HippoRAG corpus (a list of ``{title, text}``) go through
``memory.openie.LLMExtractor`` with each ``batch_size`` (greedy, so every batch size should give the
same triples up to padding effects). Prints JSON: seconds, passages/s, the ratio to the first batch
size, and triples found.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load, model_options  # noqa: E402

from memory.openie import LLMExtractor, LLMExtractorConfig  # noqa: E402


def main() -> None:
    p = model_options(argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))
    p.add_argument("--corpus", type=Path, required=True, help="HippoRAG corpus JSON")
    p.add_argument("--n", type=int, default=16, help="passages")
    p.add_argument("--batches", default="1,8", help="batch sizes, the first is the baseline")
    args = p.parse_args()
    host = load(args)
    passages = [f"{d['title']}: {d['text']}" for d in json.loads(args.corpus.read_text())[: args.n]]
    rows = []
    for size in (int(b) for b in args.batches.split(",")):
        extractor = LLMExtractor(host.model, host.tokenizer, LLMExtractorConfig(batch_size=size))
        started = time.perf_counter()
        found = extractor.extract(passages)
        seconds = time.perf_counter() - started
        rows.append({"batch_size": size, "seconds": round(seconds, 1), "passages_per_s": round(len(passages) / seconds, 3),
                     "triples": sum(len(e.triples) for e in found)})
        print(rows[-1], file=sys.stderr, flush=True)
    for row in rows:
        row["ratio"] = round(row["passages_per_s"] / rows[0]["passages_per_s"], 2)
    print(json.dumps({"passages": len(passages), "model": host.model_id, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
