"""`palimpsest skills learn FILE.jsonl --name N` (or `FILE.txt --text`) and `palimpsest skills list`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from adapters.data import SkillDataError, examples_from_dicts, read_jsonl

from serving.client import Client


def _learn(args: argparse.Namespace) -> int:
    body: dict = {"name": args.name, "replay": {"keep_data": not args.no_keep_data}}
    if args.text:
        body["text"] = Path(args.file).read_text(encoding="utf-8")
    else:
        try:
            examples = examples_from_dicts(read_jsonl(args.file))
        except SkillDataError as exc:
            print(f"error: {args.file}: {exc}", file=sys.stderr)
            return 1
        body["examples"] = [{"input": ex.input, "output": ex.output} for ex in examples]
    if args.instruction:
        body["instruction"] = args.instruction
    if args.replay_ratio is not None:
        body["replay"]["ratio"] = args.replay_ratio
    training = {k: v for k, v in (("epochs", args.epochs), ("merge", args.merge)) if v is not None}
    if training:
        body["training"] = training
    client = Client()
    job = client.post("/v1/skills", body)["job"]
    print(f"job {job['id']} queued")
    while job["status"] in ("queued", "running"):
        time.sleep(args.poll)
        job = client.get(f"/v1/jobs/{job['id']}")
        print(f"\r[{job['progress'] * 100:5.1f}%] {job.get('message', '')[:70]:<70}", end="", flush=True)
    print()
    if job["status"] != "done":
        print(f"error: training {job['status']}: {job.get('error')}", file=sys.stderr)
        return 1
    entry = job["entry"]
    print(json.dumps({"id": entry["id"], "status": entry["status"], "summary": entry["summary"],
                      "trp": entry["details"].get("trp")}, indent=2))
    return 0


def _list(args: argparse.Namespace) -> int:
    skills = Client().get("/v1/skills")["skills"]
    for s in skills:
        print(f"{s['name']:<24} {s['entry_id']}  {s['status']:<8} {s['n_examples']:>5} examples  rehearsal={s['rehearsal']}")
    if not skills:
        print("no skills learned yet")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    skills = sub.add_parser("skills", help="learn skills from examples (LoRA with replay)")
    commands = skills.add_subparsers(dest="skills_command", required=True)

    p = commands.add_parser("learn", help="learn a skill from a JSON Lines file of {input, output} rows, "
                            "or with --text from a domain's raw text")
    p.add_argument("file")
    p.add_argument("--text", action="store_true", help="FILE is raw text: learn it with the language-modelling loss")
    p.add_argument("--merge", choices=["sequential", "parallel", "ema"], help="merging strategy (default sequential)")
    p.add_argument("--name", required=True)
    p.add_argument("--instruction", help="the task instruction put before every input")
    p.add_argument("--no-keep-data", action="store_true", help="keep only a few demos; replay uses SSR rehearsal")
    p.add_argument("--replay-ratio", type=float, help="replayed examples per new example (default 0.2)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--poll", type=float, default=2.0, help="seconds between progress checks")
    p.set_defaults(func=_learn)

    p = commands.add_parser("list", help="the skills learned, with their history ids")
    p.set_defaults(func=_list)
