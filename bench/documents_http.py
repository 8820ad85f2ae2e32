"""Invented documents ingested over HTTP, then asked about through the chat, as a user would.

    make serve   # or: PALIMPSEST_HOME=/tmp/fresh PALIMPSEST_PORT=8481 make serve
    python bench/documents_http.py --url http://127.0.0.1:8481 --sets documents7,documents8

Each set of ``bench/documents_heldout.json`` was written before any run of the code it first
measured (its ``written`` line says when). Per set: the unrelated questions are asked, the documents
ingested in one history entry, every question asked (a hit: the expected words are in the greedy
answer, 48 tokens), the unrelated questions asked again (unchanged: the same answer word for word),
and the entry reverted. Prints each answer, then one JSON line per set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx

CASES = Path(__file__).with_name("documents_heldout.json")


def ask(client: httpx.Client, question: str) -> str:
    """The greedy chat answer (48 tokens) to one question."""
    body = {"messages": [{"role": "user", "content": question}], "max_tokens": 48, "temperature": 0}
    response = client.post("/v1/chat/completions", json=body)
    response.raise_for_status()
    return response.json()["choices"][0]["message"]["content"]


def run_set(client: httpx.Client, name: str, case: dict) -> dict:
    """Ingest one set's documents, ask its questions and the unrelated ones, revert; the counts."""
    before = [ask(client, q) for q in case["unrelated"]]
    response = client.post("/v1/memory/documents", json={"documents": [{"text": d} for d in case["documents"]]})
    response.raise_for_status()
    entry = response.json()["entry"]["id"]
    hits = 0
    for question, expected in case["questions"]:
        answer = ask(client, question)
        hit = expected.lower() in answer.lower()
        hits += hit
        print("OK " if hit else "-- ", question, "=>", answer.replace("\n", " ")[:160], flush=True)
    after = [ask(client, q) for q in case["unrelated"]]
    for question, old, new in zip(case["unrelated"], before, after):
        if old != new:
            print("CHANGED", question, old[:80], "->", new[:80])
    reverted = client.post(f"/v1/history/{entry}/revert").status_code
    return {"set": name, "hits": hits, "questions": len(case["questions"]),
            "unrelated_same": sum(a == b for a, b in zip(before, after)), "unrelated": len(before),
            "revert_status": reverted}


def chosen_sets(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[dict, list[str]]:
    """The sets of ``args.cases`` and the names ``args.sets`` picks (all when empty); an unknown name
    is the parser's error."""
    cases = json.loads(args.cases.read_text())
    names = [n for n in args.sets.split(",") if n] or list(cases)
    unknown = sorted(set(names) - set(cases))
    if unknown:
        parser.error(f"unknown sets {unknown}; the file has {sorted(cases)}")
    return cases, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="a running palimpsest server")
    parser.add_argument("--sets", default="", help="comma-separated set names (default: all)")
    parser.add_argument("--cases", type=Path, default=CASES)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    cases, names = chosen_sets(parser, args)
    headers = {"authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    with httpx.Client(base_url=args.url, timeout=600, headers=headers) as client:
        for name in names:
            print(json.dumps(run_set(client, name, cases[name])), flush=True)


if __name__ == "__main__":
    main()
