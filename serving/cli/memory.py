"""``palimpsest ingest FILE...``: send text, markdown or JSONL files to the graph memory."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from serving.client import Client, ServerError


def read_documents(path: Path) -> list[dict]:
    """One document per text / markdown file; one per line of a JSONL file (an object with
    "text" and optional "id" / "metadata", or a plain string)."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        docs = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ServerError(f"{path}:{n}: not valid JSON ({exc})") from exc
            if isinstance(row, str):
                row = {"text": row}
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise ServerError(f"{path}:{n}: each line needs a \"text\" string")
            row.setdefault("metadata", {})["source"] = f"{path.name}:{n}"
            docs.append(row)
        return docs
    text = path.read_text(encoding="utf-8")
    return [{"text": text, "metadata": {"source": str(path)}}]


def _ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    client = Client()
    batches: list[list[dict]] = []
    for path in args.files:
        docs = read_documents(Path(path))
        batches += [docs[i : i + args.batch] for i in range(0, len(docs), args.batch)]
    total = {"passages": 0, "entities": 0, "triples": 0}
    entries = []
    with tqdm(total=sum(len(b) for b in batches), unit="doc", desc="ingest") as bar:
        for batch in batches:
            out = client.post("/v1/memory/documents", {"documents": batch})
            entries.append(out["entry"]["id"])
            for key in total:
                total[key] += out[key]
            bar.update(len(batch))
    print(json.dumps({"entries": entries, **total}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="add documents (text, markdown, JSONL) to the graph memory")
    p.add_argument("files", nargs="+", help="files to ingest")
    p.add_argument("--batch", type=int, default=16, help="documents per request (one history entry each)")
    p.set_defaults(func=_ingest)
