"""Sequential single edits through ``/v1/edits`` on a real server: do the chat answers stay fluent?

    python bench/edit_chat_drift.py --data $DATA/editing/mquake/MQuAKE-hard.json --offset 90 --n 12

Issue 17's user check: the first rewrite of each of ``--n`` MQuAKE-hard cases is written one after
the other with ``POST /v1/edits`` (the server's defaults: keys kept, chat context, guard on). Every
case's single-hop question and ``--unrelated`` questions of the next cases are asked through
``/v1/chat/completions`` (temperature 0, ``--max-tokens``) before any edit and after the last one.
An answer counts as drifted when its n-gram entropy (``editing.fluency``) is more than the guard's
``entropy_drop`` (10 %) below the same question's answer before the edits: the text repeats
itself. Prints JSON: per edit its status (``reverted`` when the guard rejected it, with the
reason), seconds and guard fluency; per question the answers before and after, whether an edited
answer names the new object, and the drift; then every applied edit is reverted, newest first, and
the answers must come back word for word.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

from editing.fluency import n_gram_entropy

from serving.core.guard import GuardConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import serving  # noqa: E402


def ask(http: httpx.Client, question: str, tokens: int) -> str:
    body = {"model": "m", "messages": [{"role": "user", "content": question}], "max_tokens": tokens,
            "temperature": 0}
    r = http.post("/v1/chat/completions", json=body)
    r.raise_for_status()
    return r.json()["choices"][0]["message"]["content"]


def rewrite(case: dict) -> tuple[dict, str, list[str]]:
    """The edit request of a case's first rewrite, its question, and the new object's names."""
    rw = case["requested_rewrite"][0]
    request = {"prompt": rw["prompt"].format(rw["subject"]), "subject": rw["subject"],
               "target_new": rw["target_new"]["str"], "target_true": rw["target_true"]["str"]}
    hop = next((h for h in case["new_single_hops"] if h["question"] == rw["question"]), None)
    names = [rw["target_new"]["str"], *(hop["answer_alias"] if hop else [])]
    return request, rw["question"], names


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="MQuAKE-hard.json")
    p.add_argument("--offset", type=int, default=90)
    p.add_argument("--n", type=int, default=12)
    p.add_argument("--unrelated", type=int, default=6)
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--model", default=None, help="path or hub id (default: the embedded default model)")
    args = p.parse_args()
    cases = json.loads(args.data.read_text())
    edited = [rewrite(c) for c in cases[args.offset : args.offset + args.n]]
    unrelated = [rewrite(c)[1] for c in cases[args.offset + args.n : args.offset + args.n + args.unrelated]]
    questions = [q for _, q, _ in edited] + unrelated
    limit = GuardConfig().entropy_drop
    with tempfile.TemporaryDirectory(prefix="palimpsest-drift-") as scratch, \
            serving(Path(scratch) / "home", args.model) as url, httpx.Client(base_url=url, timeout=900) as http:
        before = {q: ask(http, q, args.max_tokens) for q in questions}
        edits = []
        for request, _, _ in edited:
            started = time.perf_counter()
            r = http.post("/v1/edits", json=request)
            rejected = r.status_code == 422 and r.json()["error"]["type"] == "regression_guard"
            if not rejected:
                r.raise_for_status()
            entry = r.json()["error"]["entry"] if rejected else r.json()["entry"]
            guard = entry["details"].get("guard", {})
            edits.append({"id": entry["id"], "subject": request["subject"], "status": entry["status"],
                          "seconds": round(time.perf_counter() - started, 2), "fluency": guard.get("fluency"),
                          "reason": guard.get("reason", "")})
            print(json.dumps(edits[-1]), file=sys.stderr, flush=True)
        after = {q: ask(http, q, args.max_tokens) for q in questions}
        for e in reversed(edits):
            if e["status"] == "applied":
                http.post(f"/v1/history/{e['id']}/revert").raise_for_status()
        restored = {q: ask(http, q, args.max_tokens) for q in questions}
    rows = []
    for q in questions:
        e0, e1 = n_gram_entropy(before[q]), n_gram_entropy(after[q])
        names = next((n for _, question, n in edited if question == q), None)
        rows.append({"question": q, "edited": names is not None, "before": before[q], "after": after[q],
                     "names_new": None if names is None else any(n.lower() in after[q].lower() for n in names),
                     "entropy_drop": round((e0 - e1) / e0, 3) if e0 > 0 else 0.0,
                     "drifted": e0 > 0 and (e0 - e1) / e0 > limit, "restored": restored[q] == before[q]})
    hits = [r["names_new"] for r in rows if r["edited"]]
    report = {
        "edits": edits,
        "questions": rows,
        "summary": {
            "applied": sum(e["status"] == "applied" for e in edits), "edits": len(edits),
            "seconds_per_edit": round(sum(e["seconds"] for e in edits) / len(edits), 2),
            "edited_answers_naming_new": f"{sum(hits)}/{len(hits)}",
            "drifted_answers": sum(r["drifted"] for r in rows), "answers": len(rows),
            "unrelated_unchanged":
                f"{sum(r['before'] == r['after'] for r in rows if not r['edited'])}/{len(unrelated)}",
            "restored_after_reverts": f"{sum(r['restored'] for r in rows)}/{len(rows)}",
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
