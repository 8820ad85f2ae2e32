"""Chat tokens/s through the server's decoding loop vs. a raw ``model.generate`` loop, same run.

    python bench/chat_throughput.py [--tokens 128] [--rounds 3]

Also prints the cold (GGUF conversion) and warm start times when ``--cold`` is given.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from serving.core.generation import SamplingParams, decode_stream
from serving.core.model_loader import load_model
from serving.core.settings import Settings

PROMPT = [{"role": "user", "content": "Write a short story about a lighthouse keeper."}]


def _ours(model, tokenizer, ids: list[int], n: int) -> tuple[int, float]:
    started = time.perf_counter()
    pieces = list(decode_stream(model, tokenizer, ids, SamplingParams(max_tokens=n, temperature=0.0)))
    return pieces[-1].completion_tokens, time.perf_counter() - started


def _raw(model, ids: list[int], n: int) -> tuple[int, float]:
    started = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(torch.tensor([ids]), max_new_tokens=n, min_new_tokens=n, do_sample=False)
    return out.shape[1] - len(ids), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="also time a cold start (GGUF conversion)")
    args = parser.parse_args()

    result: dict[str, float] = {}
    if args.cold:
        cache = Path(tempfile.mkdtemp())
        started = time.perf_counter()
        load_model(Settings(cache=cache))
        result["cold_start_s"] = time.perf_counter() - started
        started = time.perf_counter()
        model, tokenizer, _ = load_model(Settings(cache=cache))
        result["warm_start_s"] = time.perf_counter() - started
        shutil.rmtree(cache)
    else:
        started = time.perf_counter()
        model, tokenizer, _ = load_model(Settings())
        result["warm_start_s"] = time.perf_counter() - started

    text = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    # Suppress EOS in both so each produces exactly args.tokens tokens.
    model.generation_config.eos_token_id = None
    tokenizer_eos = tokenizer.eos_token_id
    tokenizer.eos_token_id = None  # type: ignore[assignment]
    ours_tps, raw_tps = [], []
    with torch.inference_mode():
        _ours(model, tokenizer, ids, 8), _raw(model, ids, 8)  # warm-up
        for _ in range(args.rounds):
            n, s = _ours(model, tokenizer, ids, args.tokens)
            ours_tps.append(n / s)
            n, s = _raw(model, ids, args.tokens)
            raw_tps.append(n / s)
    tokenizer.eos_token_id = tokenizer_eos
    result.update({
        "tokens": args.tokens,
        "ours_tokens_per_s": max(ours_tps),
        "raw_generate_tokens_per_s": max(raw_tps),
        "ratio_ours_over_raw": max(ours_tps) / max(raw_tps),
    })
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
