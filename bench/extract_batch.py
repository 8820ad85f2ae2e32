"""OpenIE with the hosted model at ingest: one passage at a time against the continuous batch, in one process.

    python bench/extract_batch.py --corpus ../shared/data/hipporag/legacy/data/musique_train_corpus.json \
        --n 64 --batch 16,32 --threads 2

The same first ``--n`` passages of a HippoRAG corpus (a list of ``{title, text}``) go through
``memory.openie.LLMExtractor`` twice, greedy:

- ``one_at_a_time``: the padded ``model.generate`` path with ``batch_size=1`` (ingest before issue 18);
- ``batched_<B>``: for each ``--batch`` size B, B passages in flight through
  ``serving.core.decoding.Decoder`` (continuous batching, ``max_batch=B``), as the server runs it
  with ``extract_dtype=float32`` with no chat decoding (``serving.services.extraction``);
- with ``--copy``, ``copy_<B>``: the same on a bfloat16 copy of the model
  (``serving.services.extraction.BackgroundExtractor``), as the server runs it by default on a CPU
  that multiplies bfloat16 natively.

``--dtype bfloat16`` puts the model itself in bfloat16 first, so that every way runs in it.

Prints JSON: seconds, passages/s and triples of each, each batch size's ratio of passages/s over one
at a time, how many passages got the same extraction (greedy; float rounding of wider matmuls
may flip a near tie), and the batch's decode steps and mean rows per step (how full it ran).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load, model_options  # noqa: E402

from memory.openie import LLMExtractor, LLMExtractorConfig  # noqa: E402
from serving.core.decoding import Decoder  # noqa: E402
from serving.services.extraction import BackgroundExtractor, decoder_generate  # noqa: E402


def timed(extractor: LLMExtractor, passages: list[str]) -> tuple[dict, list]:
    started = time.perf_counter()
    found = extractor.extract(passages, progress=lambda n: print(f"  {n}/{len(passages)}", file=sys.stderr, flush=True))
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "passages_per_s": round(len(passages) / seconds, 3),
            "triples": sum(len(e.triples) for e in found)}, found


def main() -> None:
    p = model_options(argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))
    p.add_argument("--corpus", type=Path, required=True, help="HippoRAG corpus JSON")
    p.add_argument("--n", type=int, default=32, help="passages")
    p.add_argument("--batch", default="16", help="comma-separated passages in flight (rows of the continuous batch)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="the model's dtype, every way")
    p.add_argument("--copy", action="store_true", help="also decode on a bfloat16 copy at each batch size")
    args = p.parse_args()
    host = load(args)
    host.model.to(getattr(torch, args.dtype))
    passages = [f"{d['title']}: {d['text']}" for d in json.loads(args.corpus.read_text())[: args.n]]
    runs, found = {}, {}
    runs["one_at_a_time"], found["one_at_a_time"] = timed(
        LLMExtractor(host.model, host.tokenizer, LLMExtractorConfig(batch_size=1)), passages)
    print("one_at_a_time", runs["one_at_a_time"], file=sys.stderr, flush=True)
    base = runs["one_at_a_time"]["passages_per_s"]
    def compare(name: str) -> None:
        same = sum(a == b for a, b in zip(found["one_at_a_time"], found[name]))
        runs[name].update(ratio=round(runs[name]["passages_per_s"] / base, 2),
                          same_extraction=f"{same}/{len(passages)}")

    for size in (int(b) for b in args.batch.split(",")):
        decoder = Decoder(host, max_batch=size, max_queue=2 * size, timeout=3600.0)
        extractor = LLMExtractor(host.model, host.tokenizer, LLMExtractorConfig(batch_size=size),
                                 generate=decoder_generate(decoder))
        name = f"batched_{size}"
        runs[name], found[name] = timed(extractor, passages)
        decoder.close()
        compare(name)
        sample = decoder.metrics.registry.get_sample_value
        steps = sample("palimpsest_decode_step_rows_count")
        runs[name].update(steps=int(steps), rows_per_step=round(sample("palimpsest_decode_step_rows_sum") / steps, 1))
        print(name, runs[name], file=sys.stderr, flush=True)
        if args.copy:
            name = f"copy_{size}"
            copy = BackgroundExtractor(host, torch.bfloat16, LLMExtractorConfig(batch_size=size), timeout=3600.0)
            runs[name], found[name] = timed(copy, passages)
            compare(name)
            print(name, runs[name], file=sys.stderr, flush=True)
    print(json.dumps({"passages": len(passages), "model": host.model_id, "dtype": args.dtype, "threads": args.threads,
                      **runs}, indent=2))


if __name__ == "__main__":
    main()
