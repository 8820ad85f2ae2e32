"""Invented changes sent one statement at a time through ``POST /v1/updates`` (the router decides),
each followed by chat questions worded unlike it, as a user would.

    make serve   # or: PALIMPSEST_HOME=/tmp/fresh PALIMPSEST_PORT=8481 make serve
    python bench/updates_http.py --url http://127.0.0.1:8481 --sets moves1

Each set of ``bench/moves_heldout.json`` was written before any run of the code it first measured
(its ``written`` line says when). Per set: the unrelated questions are asked, every step's statement
is sent and its questions asked (a hit: the expected words are in the greedy answer, 48 tokens), the
unrelated questions asked again (unchanged: the same answer word for word), and every entry reverted,
newest first; right after a step's entry is reverted, its ``after_revert`` questions are asked (what
the facts before it say). Prints each route and answer, then one JSON line per set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx

from documents_http import ask, chosen_sets

CASES = Path(__file__).with_name("moves_heldout.json")


def run_set(client: httpx.Client, name: str, case: dict) -> dict:
    """Send one set's statements in order, ask after each, revert them all; the counts."""
    before = [ask(client, q) for q in case["unrelated"]]
    entries, hits, asked, routes = [], 0, 0, {}
    for step in case["steps"]:
        response = client.post("/v1/updates", json={"text": step["text"]})
        response.raise_for_status()
        body = response.json()
        entries.append(body["entry"]["id"])
        routes[body["route"]] = routes.get(body["route"], 0) + 1
        print(f"[{body['route']}]", step["text"], flush=True)
        for question, expected in step["questions"]:
            answer = ask(client, question)
            hit = expected.lower() in answer.lower()
            hits, asked = hits + hit, asked + 1
            print("OK " if hit else "-- ", question, "=>", answer.replace("\n", " ")[:160], flush=True)
    after = [ask(client, q) for q in case["unrelated"]]
    reverted, restored, after_revert = [], 0, 0
    for entry, step in zip(reversed(entries), reversed(case["steps"])):
        reverted.append(client.post(f"/v1/history/{entry}/revert").status_code)
        for question, expected in step.get("after_revert", []):
            answer = ask(client, question)
            hit = expected.lower() in answer.lower()
            restored, after_revert = restored + hit, after_revert + 1
            print("OK " if hit else "-- ", "[reverted]", question, "=>", answer.replace("\n", " ")[:160], flush=True)
    return {"set": name, "hits": hits, "questions": asked, "routes": routes,
            "unrelated_same": sum(a == b for a, b in zip(before, after)), "unrelated": len(before),
            "reverted_200": sum(status == 200 for status in reverted), "entries": len(entries),
            "after_revert_hits": restored, "after_revert_questions": after_revert}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="a running palimpsest server")
    parser.add_argument("--sets", default="", help="comma-separated set names (default: all)")
    parser.add_argument("--cases", type=Path, default=CASES)
    args = parser.parse_args()
    cases, names = chosen_sets(parser, args)
    with httpx.Client(base_url=args.url, timeout=600) as client:
        for name in names:
            print(json.dumps(run_set(client, name, cases[name])), flush=True)


if __name__ == "__main__":
    main()
