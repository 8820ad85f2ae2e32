"""Which grounding prompt a small model follows: the ablation behind `GroundingConfig.format` and
`GroundingConfig.contrast` (context-aware decoding's alpha).

    python bench/grounding_prompt.py --data MQuAKE-hard.json --n 10 --offset 0 --unrelated 10 \
        --formats passages,ike --contrasts 0,1 --copies 0,4

MQuAKE rewrites are stored as memory facts (route "memory", as `/v1/updates` would). Then, for each
format, every rewrite's own question, each case's first multi-hop question and unrelated questions
(other cases' single-hop questions, answered before any update) are asked greedily through the
chat service. Prints per format: single-hop hits, multi-hop hits, unrelated unchanged, grounded
rates, and seconds; the formats run in one process on the same memory, so the ratios are fair.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from serving.core.generation import SamplingParams
from serving.core.settings import Settings
from serving.services import Runtime
from serving.services.grounding import GroundingConfig
from serving.services.updates import Update


def hit(answer: str, names: list[str]) -> bool:
    low = answer.lower()
    return any(n.lower() in low for n in names if n)


def ask(rt: Runtime, question: str, memory: bool | None, max_tokens: int) -> tuple[str, bool]:
    params = SamplingParams(max_tokens, 0.0, 1.0, [], 0)
    ids, params, citations = rt.chat.chat_ids([{"role": "user", "content": question}], params, memory)
    text = "".join(p.text for p in rt.chat.pieces(ids, params))
    return text.strip(), bool(citations)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="MQuAKE-format JSON")
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--unrelated", type=int, default=10)
    p.add_argument("--formats", default="passages,facts,ike")
    p.add_argument("--contrasts", default="0",
                   help="context-aware decoding settings, ALPHA or ALPHA/PLAUSIBILITY, each run with every format")
    p.add_argument("--copies", default="0", help="fact copying's matched tokens (0: off), each run with every contrast")
    p.add_argument("--max-tokens", type=int, default=24)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", type=Path, help="per-question JSONL")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = json.loads(args.data.read_text())
    chosen = cases[args.offset: args.offset + args.n]
    others = [c for c in cases[args.offset + args.n:] if c not in chosen][: args.unrelated]
    unrelated = [c["requested_rewrite"][0]["question"] for c in others]
    home = Path(tempfile.mkdtemp(prefix="palimpsest-bench-"))
    rt = Runtime.load(Settings(home=home, memory_extractor="rule", guard=False))
    before = {q: ask(rt, q, False, args.max_tokens)[0] for q in unrelated}
    for case in chosen:
        for r in case["requested_rewrite"]:
            text = r["prompt"].format(r["subject"]) + " " + r["target_new"]["str"] + "."
            rt.updates.apply(Update(text=text, route="memory"))
    print(f"memory: {rt.memory.stats()}", file=sys.stderr)
    rows, report = [], {}
    variants = [(f, c, n) for f in args.formats.split(",") for c in args.contrasts.split(",")
                for n in args.copies.split(",")]
    for fmt, contrast, copy in variants:
        alpha, _, beta = contrast.partition("/")
        rt.chat.config = GroundingConfig(format=fmt, contrast=float(alpha), plausibility=float(beta or 0.1), copy=int(copy))
        name = (f"{fmt}+cad{contrast}" if float(alpha) else fmt) + (f"+copy{copy}" if int(copy) and float(alpha) else "")
        start, single, multi, same, grounded_unrel = time.perf_counter(), [], [], [], []
        for case in chosen:
            for r in case["requested_rewrite"]:
                answer, g = ask(rt, r["question"], None, args.max_tokens)
                single.append(hit(answer, [r["target_new"]["str"]]))
                rows.append({"format": name, "kind": "single", "q": r["question"], "a": answer, "grounded": g, "hit": single[-1]})
            answer, g = ask(rt, case["questions"][0], None, args.max_tokens)
            multi.append(hit(answer, [case["new_answer"], *case["new_answer_alias"]]))
            rows.append({"format": name, "kind": "multi", "q": case["questions"][0], "a": answer, "grounded": g, "hit": multi[-1]})
        for q in unrelated:
            answer, g = ask(rt, q, None, args.max_tokens)
            same.append(answer == before[q])
            grounded_unrel.append(g)
            rows.append({"format": name, "kind": "unrelated", "q": q, "a": answer, "before": before[q], "grounded": g})
        report[name] = {
            "single_hop": round(sum(single) / max(1, len(single)), 3), "n_single": len(single),
            "multi_hop": round(sum(multi) / max(1, len(multi)), 3), "n_multi": len(multi),
            "unrelated_unchanged": round(sum(same) / max(1, len(same)), 3),
            "unrelated_grounded": round(sum(grounded_unrel) / max(1, len(same)), 3),
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(name, report[name], file=sys.stderr)
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(json.dumps({"cases": f"{args.offset}:{args.offset + args.n}", "formats": report}, indent=2))


if __name__ == "__main__":
    main()
