"""A real server under load: chat latency during an edit, and a stream + a revert + many chats.

    python bench/serve_under_load.py [--model PATH] [--clients 4] [--chats 64] [--seconds 20]

1. Chat p95 latency (``--clients`` clients in a loop, non-streamed, ``--tokens`` tokens) without an
   edit, during one ROME edit, and without again; prints p95(during) / p95(without), both measured
   in this run (target: at most 1.5). With ``--ingest N``, the same around an ingest of the first N
   documents of ``bench/documents_heldout.json`` (one ``POST /v1/memory/documents``).
2. One long stream; once it decodes, a revert of that edit, then ``--chats`` concurrent chats.
   Every request must be answered (or refused with 429/503), ``/healthz`` must answer within 2 s
   throughout, and the revert must complete.

The server runs on the CPU with the settings in the environment (``PALIMPSEST_GUARD=false`` unless
``--guard``); a first edit pays for the key statistics before anything is timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import serving  # noqa: E402

QUESTION = [{"role": "user", "content": "Name three things a lighthouse keeper does."}]
WARM_EDIT = {"prompt": "The Colosseum is located in the city of", "subject": "The Colosseum", "target_new": "London"}
EDIT = {"prompt": "The Eiffel Tower is located in the city of", "subject": "The Eiffel Tower", "target_new": "Rome"}


def chat(url: str, tokens: int, timeout: float = 600) -> tuple[int, float, float]:
    """(status, started, seconds) of one non-streamed chat."""
    body = {"model": "m", "messages": QUESTION, "max_tokens": tokens, "temperature": 0}
    started = time.monotonic()
    status = httpx.post(url + "/v1/chat/completions", json=body, timeout=timeout).status_code
    return status, started, time.monotonic() - started


def chat_loop(url: str, clients: int, tokens: int, stop: threading.Event) -> list[tuple[int, float, float]]:
    """``clients`` clients chatting back to back until ``stop``; every chat's (status, started, seconds)."""
    done: list[tuple[int, float, float]] = []

    def client() -> None:
        while not stop.is_set():
            done.append(chat(url, tokens))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    stop.wait()
    for t in threads:
        t.join()
    return done


def p95(seconds: list[float]) -> float:
    return statistics.quantiles(seconds, n=20)[-1] if len(seconds) > 1 else float("nan")


def ingest_body(n: int) -> dict:
    """The first ``n`` invented documents of the held-out sets, as a ``/v1/memory/documents`` body."""
    sets = json.loads((Path(__file__).resolve().parent / "documents_heldout.json").read_text())
    return {"documents": [{"text": d} for case in sets.values() for d in case["documents"]][:n]}


def latency_during(url: str, args: argparse.Namespace, path: str, body: dict) -> tuple[dict[str, float], str]:
    """p95 chat latency without an update, during one (``body`` posted to ``path``), and without
    again; the update's entry id."""
    result: dict[str, float] = {}
    update: dict[str, object] = {}
    for phase in ("without_1", "during", "without_2"):
        stop = threading.Event()
        if phase == "during":
            def send() -> None:
                update["sent"] = time.monotonic()
                response = httpx.post(url + path, json=body, timeout=1800)
                update["done"], update["response"] = time.monotonic(), response
                stop.set()

            threading.Thread(target=send).start()
        else:
            threading.Timer(args.seconds, stop.set).start()
        done = chat_loop(url, args.clients, args.tokens, stop)
        if phase == "during":  # the chats that started while the update ran
            done = [c for c in done if update["sent"] <= c[1] <= update["done"]]
            result["update_s"] = update["done"] - update["sent"]
        result[f"p95_{phase}_s"] = p95([c[2] for c in done if c[0] == 200])
        result[f"chats_{phase}"] = len(done)
        result[f"errors_{phase}"] = sum(c[0] != 200 for c in done)
    without = (result["p95_without_1_s"] + result["p95_without_2_s"]) / 2
    result["p95_ratio_during_vs_without"] = result["p95_during_s"] / without
    response = update["response"]
    response.raise_for_status()
    return result, response.json()["entry"]["id"]


def stream_revert_and_chats(url: str, entry: str, args: argparse.Namespace) -> dict[str, float]:
    """One stream decoding, a revert waiting for it, then ``args.chats`` concurrent chats."""
    health: list[float] = []
    health_failures: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                httpx.get(url + "/healthz", timeout=2).raise_for_status()
                health.append(time.monotonic() - started)
            except httpx.HTTPError as exc:
                health_failures.append(repr(exc))
            stop.wait(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    body = {"model": "m", "messages": QUESTION, "max_tokens": args.stream_tokens, "temperature": 0, "stream": True}
    with ThreadPoolExecutor(args.chats + 1) as pool, \
            httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=1800) as stream:
        lines = (line for line in stream.iter_lines() if line.startswith("data: "))
        next(lines), next(lines)  # the role chunk, then text: the stream decodes
        revert = pool.submit(httpx.post, f"{url}/v1/history/{entry}/revert", timeout=1800)
        time.sleep(0.3)
        chats = [pool.submit(chat, url, args.tokens, 1800) for _ in range(args.chats)]
        streamed = sum(1 for _ in lines)
        statuses = [c.result()[0] for c in chats]
        reverted = revert.result()
    wall = time.monotonic() - started
    stop.set()
    watcher.join()
    return {
        "stream_events": streamed,
        "chats_answered": statuses.count(200),
        "chats_refused_429_503": sum(s in (429, 503) for s in statuses),
        "chats_other": sum(s not in (200, 429, 503) for s in statuses),
        "revert_status": reverted.status_code,
        "healthz_max_s": max(health, default=float("nan")),
        "healthz_failures": len(health_failures),
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="path, .gguf file or hub id (default: $PALIMPSEST_MODEL or the embedded default)")
    parser.add_argument("--clients", type=int, default=4, help="chat clients in the latency phases")
    parser.add_argument("--tokens", type=int, default=16, help="max_tokens of each chat")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase without an edit")
    parser.add_argument("--chats", type=int, default=64, help="concurrent chats behind the revert")
    parser.add_argument("--stream-tokens", type=int, default=256)
    parser.add_argument("--guard", action="store_true", help="keep the regression guard on")
    parser.add_argument("--ingest", type=int, default=0, help="documents ingested in a latency phase of their own")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="palimpsest-load-")) / "home"
    with serving(home, args.model or None, PALIMPSEST_GUARD=str(args.guard).lower()) as url:
        chat(url, args.tokens)
        httpx.post(url + "/v1/edits", json=WARM_EDIT, timeout=3600).raise_for_status()  # key statistics, once
        latency, entry = latency_during(url, args, "/v1/edits", EDIT)
        out = {"latency": latency}
        if args.ingest:
            out["latency_ingest"] = latency_during(url, args, "/v1/memory/documents", ingest_body(args.ingest))[0]
        out["stream_revert_chats"] = stream_revert_and_chats(url, entry, args)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
