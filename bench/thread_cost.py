"""What running model work off the main thread costs: one edit's value optimisation and one greedy
generation, timed on the main thread and on a worker thread of the same process.

    python bench/thread_cost.py --data $DATA/editing/counterfact/counterfact-edit.json --threads 2

The server runs all model work on threads other than the main one (the decoder, the edit's
low-priority thread, the HTTP worker threads). Each thread that runs a parallel torch op keeps an
OpenMP team, and libgomp spins only briefly when it manages more threads than there are CPUs, so
every parallel op then waits for its workers to wake. Prints seconds per side and the ratios.
``palimpsest`` sets ``OMP_WAIT_POLICY=ACTIVE GOMP_SPINCOUNT=300000`` (``serving.core.openmp``); this bench
does not, so run it with and without them to see what they change.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from editing.config import RomeConfig
from editing.evaluate import load_cases
from editing.fluency import FLUENCY_PROMPTS, greedy_ids
from editing.rome import resolve_layer, rome_edit

from common import load, model_options


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True, help="CounterFact records; the first one is edited")
    p.add_argument("--offset", type=int, default=7200)
    p.add_argument("--repeats", type=int, default=2)
    args = model_options(p).parse_args()
    host = load(args)
    model, tok = host.model, host.tokenizer
    request = load_cases(Path(args.data), 1, args.offset)[0].request
    config = RomeConfig(layer=resolve_layer(model, None))
    work: dict[str, Callable[[], object]] = {
        "value_optimisation": lambda: rome_edit(model, tok, request, config),
        "greedy_4x32": lambda: greedy_ids(model, tok, list(FLUENCY_PROMPTS), 32),
    }

    def timed(fn: Callable[[], object]) -> float:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    report: dict = {}
    for name, fn in work.items():
        fn()  # warm-up
        main_thread = min(timed(fn) for _ in range(args.repeats))
        with ThreadPoolExecutor(max_workers=1) as pool:
            worker = min(pool.submit(timed, fn).result() for _ in range(args.repeats))
        report[name] = {"main_thread_s": round(main_thread, 3), "worker_thread_s": round(worker, 3),
                        "ratio": round(worker / main_thread, 3)}
        print(json.dumps({name: report[name]}), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
