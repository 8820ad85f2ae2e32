"""``palimpsest update``: one command for any update; the server's router picks where it goes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from serving.client import Client


def _update(args: argparse.Namespace) -> int:
    body: dict = {"route": args.route}
    if args.fact:
        body["fact"] = dict(zip(("subject", "relation", "object"), args.fact))
    elif args.examples:
        lines = Path(args.examples).read_text().splitlines()
        body.update(examples=[json.loads(line) for line in lines if line.strip()], name=args.name)
    else:
        body["text"] = Path(args.file).read_text() if args.file else args.text
    result = Client().post("/v1/updates", body)
    print(f"route: {result['route']} — {result['reason']}")
    if "entry" in result:
        print(f"entry: {result['entry']['id']} ({result['entry']['status']})")
    if "job" in result:
        print(f"job: {result['job']['id']} (follow it with GET /v1/jobs/{result['job']['id']})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("update", help="send any update; the router picks memory, an edit or a skill")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="a statement or a document")
    what.add_argument("--file", help="a text file to send as a document")
    what.add_argument("--fact", nargs=3, metavar=("SUBJECT", "RELATION", "OBJECT"))
    what.add_argument("--examples", help="a JSONL file of {input, output} examples (a skill)")
    p.add_argument("--name", help="the skill's name (with --examples)")
    p.add_argument("--route", choices=["auto", "memory", "edit", "skill"], default="auto")
    p.set_defaults(func=_update)
