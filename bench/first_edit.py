"""The first weight edit on a fresh home against warm ones: what ``palimpsest prepare`` saves.

    python bench/first_edit.py [--model PATH] [--edits 3] [--no-prepare]

On a new, empty ``PALIMPSEST_HOME`` (the model cache and key statistics included):

1. ``palimpsest prepare``, timed (what ``make serve`` runs first: the model conversion and the key
   statistics of the default layers);
2. ``palimpsest serve``, then ``--edits`` single ``POST /v1/edits`` calls on different invented
   facts, one after the other, each timed.

Prints JSON: prepare's seconds, each edit's seconds and the server's own split of them
(``service_seconds``), and the first edit's time over the median of the later ones. Target (issue
18): the first edit within 1.5x a warm one. ``--no-prepare`` skips step 1, so the server computes the
statistics in the background from its start, and the first edit waits for what is left of them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, serving  # noqa: E402

EDITS = [
    {"prompt": "Mirela Tovstuha works as a", "subject": "Mirela Tovstuha", "target_new": "violinist"},
    {"prompt": "The Quellbrook Tower is located in the city of", "subject": "The Quellbrook Tower", "target_new": "Oslo"},
    {"prompt": "Dravin Oskarsson is a citizen of", "subject": "Dravin Oskarsson", "target_new": "Chile"},
    {"prompt": "The Harnet Prize is awarded in the field of", "subject": "The Harnet Prize", "target_new": "chemistry"},
    {"prompt": "Lisbeth Arunde plays the instrument", "subject": "Lisbeth Arunde", "target_new": "cello"},
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="path, .gguf file or hub id (default: the embedded default)")
    p.add_argument("--edits", type=int, default=3, choices=range(2, len(EDITS) + 1))
    p.add_argument("--no-prepare", action="store_true", help="start the server on the empty home directly")
    args = p.parse_args()

    home = Path(tempfile.mkdtemp(prefix="palimpsest-first-edit-")) / "home"
    env = {"PALIMPSEST_DEVICE": "cpu", **({"PALIMPSEST_MODEL": args.model} if args.model else {})}
    result: dict = {"home": str(home)}
    if not args.no_prepare:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "serving.cli", "prepare"], cwd=REPO, check=True,
                       env={**os.environ, "PALIMPSEST_HOME": str(home), "HF_HUB_OFFLINE": "1", **env})
        result["prepare_s"] = round(time.perf_counter() - started, 1)
    with serving(home, None, **env) as url:
        edits = []
        for body in EDITS[: args.edits]:
            started = time.perf_counter()
            response = httpx.post(url + "/v1/edits", json=body, timeout=3600)
            seconds = time.perf_counter() - started
            response.raise_for_status()
            details = response.json()["entry"]["details"]
            edits.append({"subject": body["subject"], "seconds": round(seconds, 1),
                          "service_seconds": details.get("service_seconds")})
            print(edits[-1], file=sys.stderr, flush=True)
    warm = statistics.median(e["seconds"] for e in edits[1:])
    result.update(edits=edits, first_s=edits[0]["seconds"], warm_median_s=warm,
                  first_over_warm=round(edits[0]["seconds"] / warm, 2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
