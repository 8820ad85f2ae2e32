"""``palimpsest edit``: write a fact into the model's weights through the running server."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from serving.client import Client, ServerError


def _edit(args: argparse.Namespace) -> int:
    client = Client()
    if args.batch:
        try:
            edits = json.loads(Path(args.batch).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ServerError(f"{args.batch}: cannot read a JSON list of edits ({exc})") from exc
        out = client.post("/v1/edits/batch", {"edits": edits})
    else:
        if not (args.prompt and args.subject and args.target):
            raise ServerError("give --prompt, --subject and --target (or --batch FILE)")
        body = {"prompt": args.prompt, "subject": args.subject, "target_new": args.target}
        if args.true:
            body["target_true"] = args.true
        if args.layer is not None:
            body["layer"] = args.layer
        out = client.post("/v1/edits", body)
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "edit",
        help="write a fact into the weights (ROME), e.g. --prompt 'The Eiffel Tower is located in the city of' "
        "--subject 'The Eiffel Tower' --target Rome; revert with 'palimpsest revert ID'",
    )
    p.add_argument("--prompt", help="a cloze prompt containing the subject")
    p.add_argument("--subject", help="the entity whose fact changes (verbatim in the prompt)")
    p.add_argument("--target", help="the new answer")
    p.add_argument("--true", help="the current answer, to report its probability too")
    p.add_argument("--layer", type=int, help="edit layer (default: the server's)")
    p.add_argument("--batch", metavar="FILE", help="JSON list of {prompt, subject, target_new[, target_true]}: one entry")
    p.set_defaults(func=_edit)
