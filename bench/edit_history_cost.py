"""What a single edit's solve costs as the history grows: the key store's gram update and the
kept-keys rank-one solve at 10, 1,000 and 10,000 earlier edits (no model; keys of SmolLM2's size).

    python bench/edit_history_cost.py --sizes 10,1000,10000 --threads 2

The history enters an edit only through K_p K_p^T, a d_in x d_in matrix whatever the number of
earlier edits, kept incrementally by ``KeyStore.gram`` (one new entry read and added per edit). So
both times must stay flat; the value optimisation, the rest of an edit, does not see the history
at all. Prints the median seconds per size and the ratio of the largest size to the smallest.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from editing.keystore import KeyStore
from editing.rome import rank_one_factors


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="10,1000,10000")
    p.add_argument("--d-in", type=int, default=1536)
    p.add_argument("--d-out", type=int, default=576)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    a = torch.randn(args.d_in, args.d_in) / args.d_in**0.5
    cov = a @ a.t() + 1e-3 * torch.eye(args.d_in)
    report: dict = {}
    with tempfile.TemporaryDirectory() as root:
        store = KeyStore(Path(root))
        applied: list[str] = []
        for size in sorted(int(s) for s in args.sizes.split(",")):
            while len(applied) < size:  # the history: one key file per edit, as the service writes them
                entry = f"e{len(applied)}"
                store.save(entry, {5: torch.randn(args.d_in, 1)})
                applied.append(entry)
            store.gram(applied)
            gram_s, solve_s = [], []
            for r in range(args.repeat):
                entry = f"new{size}_{r}"
                store.save(entry, {5: torch.randn(args.d_in, 1)})
                t = time.perf_counter()
                previous = store.gram(applied + [entry])[5]
                gram_s.append(time.perf_counter() - t)
                t = time.perf_counter()
                rank_one_factors(torch.randn(args.d_in), torch.randn(args.d_out), cov, previous)
                solve_s.append(time.perf_counter() - t)
                store.gram(applied)  # the entry leaves again (as a revert would), back to `size`
            report[size] = {"gram_update_s": round(statistics.median(gram_s), 4),
                            "solve_s": round(statistics.median(solve_s), 4)}
    small, large = min(report), max(report)
    report["ratio_largest_over_smallest"] = {
        k: round(report[large][k] / report[small][k], 2) for k in ("gram_update_s", "solve_s")}
    report["threads"] = torch.get_num_threads()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
