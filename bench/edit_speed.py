"""Seconds per single edit through the service (``/v1/edits`` without HTTP), chat context included,
and where the time goes.

    python bench/edit_speed.py --data $DATA/editing/counterfact/counterfact-edit.json \
        --offset 2000 --n 5 --variants default,mpes,plain_stop --threads 2

Each variant is a runtime on a scratch home over the same loaded model, with the guard on (its
fluency checks included) and the server's other settings: it writes the ``--n`` cases one after the
other, as a user would (each edit keeps the earlier ones' keys; the guard's "before" scores are those
of the previous edit's "after"), then reverts them all, newest first, back to the base fingerprint.
Prints per variant the mean seconds of each step (``details.service_seconds``: snapshot, statistics,
p_before, edit, apply_and_guard, p_after; the edit's own steps ``details.seconds_by_step``:
contexts and key, value optimisation, solve), value steps per edit, the total, and the ratios of the
totals to the first variant's.

Run it with ``OMP_WAIT_POLICY=ACTIVE GOMP_SPINCOUNT=300000`` to time the edit as ``palimpsest serve``
runs it (``serving.core.openmp``).

Variants: ``default`` (the settings as shipped), ``mpes`` (``edit_early_stop=most_probable``),
``plain_stop`` (``edit_stop_on_chat=false``), ``mpes_plain`` (both), ``no_guard`` (the guard off),
``fp32`` (the value optimised in fp32 where the default picks bfloat16), ``fast``
(``edit_value_schedule=fast``: 12 value steps instead of 25).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from editing.evaluate import load_cases

from serving.core.engine import Engine
from serving.services import Runtime

from common import load, model_options, settings

VARIANTS = {
    "default": {},
    "mpes": {"edit_early_stop": "most_probable"},
    "plain_stop": {"edit_stop_on_chat": False},
    "mpes_plain": {"edit_early_stop": "most_probable", "edit_stop_on_chat": False},
    "no_guard": {"guard": False},
    "fp32": {"edit_value_dtype": "float32"},
    "fast": {"edit_value_schedule": "fast"},
}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--offset", type=int, default=2000)
    p.add_argument("--n", type=int, default=5)
    p.add_argument("--variants", default="default,mpes", help=f"first is the reference; from {list(VARIANTS)}")
    args = model_options(p).parse_args()
    host = load(args)
    base = host.fingerprint()
    cases = load_cases(Path(args.data), args.n, args.offset)
    report = {}
    with tempfile.TemporaryDirectory(prefix="palimpsest-speed-") as scratch:
        for name in args.variants.split(","):
            cfg = settings(args).model_copy(update={"home": Path(scratch) / name, "cache": settings(args).cache_dir,
                                                    "memory_extractor": "rule", **VARIANTS[name]})
            runtime = Runtime(Engine(cfg, host))
            runtime.edits.prepare_in_background().join()  # key statistics loaded before the clock starts
            rows = []
            for case in cases:
                t = time.perf_counter()
                entry = runtime.edits.edit(case.request).entry
                rows.append({"total": time.perf_counter() - t, **entry.details["service_seconds"],
                             **{f"edit.{k}": v for k, v in entry.details["seconds_by_step"].items()},
                             "steps": entry.details["steps"]})
                print(json.dumps({"variant": name, **{k: round(v, 2) for k, v in rows[-1].items()}}),
                      file=sys.stderr, flush=True)
            for entry_id in reversed(runtime.engine.applied()):
                runtime.engine.revert(entry_id)
            if host.fingerprint() != base:
                raise SystemExit(f"{name}: the reverts did not restore the base weights")
            runtime.close()
            report[name] = {k: round(statistics.mean(r[k] for r in rows), 3) for k in rows[0]}
    first = args.variants.split(",")[0]
    report["ratios_of_total_to_" + first] = {n: round(r["total"] / report[first]["total"], 3)
                                             for n, r in report.items() if n != first}
    report["threads"] = torch.get_num_threads()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
