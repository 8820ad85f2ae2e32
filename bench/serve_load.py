"""Many streamed clients against a real server: continuous batching's throughput and latency.

    python bench/serve_load.py [--model PATH] [--levels 1,4,16,64] [--tokens 64] [--queue 32] [--device cpu]

Starts ``palimpsest serve`` (``PALIMPSEST_DECODE_QUEUE=--queue``, other settings from the
environment), then:

1. the sequential baseline: one client asks ``--baseline`` questions in turn (streamed,
   ``max_tokens`` ``--tokens``, temperature 0, the ``openai`` package);
2. for each level of ``--levels``: that many clients at once, each asking ``--rounds`` questions in
   a loop (one each at levels above the batch plus queue).

Per level it prints aggregate tokens/s (completion tokens of every answer / wall time), p50 and
p95 time to first token (to the first chunk with text), p95 latency, the ratio of tokens/s to the
baseline's, how many greedy answers equal the baseline's answer to the same question, and the
refusals: 429/503 (with the slowest refusal's time) and any other error. After the last level,
``/healthz``'s latency. Targets (issue 18, 2 CPU cores): 16 clients >= 4x the baseline's tokens/s,
p95 TTFT <= 2 s; 64 clients over a queue of 32: only 429/503 refusals, quickly, server healthy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import serving  # noqa: E402

QUESTIONS = [
    "Name three things a lighthouse keeper does.",
    "Why is the sky blue?",
    "Write a short poem about autumn leaves.",
    "What is the capital of France, and what is it famous for?",
    "Explain what a hash table is to a beginner programmer in a few sentences.",
    "Give me two tips for sleeping better.",
    "How do bees make honey?",
    "Summarise the plot of Romeo and Juliet.",
]


@dataclass
class Result:
    question: int
    status: int
    text: str = ""
    tokens: int = 0
    ttft: float = 0.0
    latency: float = 0.0
    error: str = ""


def ask(client: openai.OpenAI, question: int, tokens: int) -> Result:
    start = time.perf_counter()
    result = Result(question, 200)
    try:
        stream = client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": QUESTIONS[question]}], max_tokens=tokens,
            temperature=0, stream=True, stream_options={"include_usage": True})
        parts = []
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                if not parts:
                    result.ttft = time.perf_counter() - start
                parts.append(chunk.choices[0].delta.content)
            if chunk.usage is not None:
                result.tokens = chunk.usage.completion_tokens
        result.text = "".join(parts)
    except openai.APIStatusError as exc:
        result.status, result.error = exc.status_code, exc.message[:120]
    except openai.APIError as exc:
        result.status, result.error = -1, f"{type(exc).__name__}: {exc}"[:120]
    result.latency = time.perf_counter() - start
    return result


def run_level(url: str, clients: int, rounds: int, tokens: int) -> tuple[list[Result], float]:
    """``clients`` threads, each asking ``rounds`` questions in turn; the results and the wall time."""
    results: list[Result] = []
    lock = threading.Lock()

    def client_loop(c: int) -> None:
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=600)
        for r in range(rounds):
            result = ask(client, (c + r * clients) % len(QUESTIONS), tokens)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=client_loop, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="path, .gguf file or hub id (default: the embedded default)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default=None, help="float32, bfloat16... (default: the server's auto)")
    p.add_argument("--levels", default="1,4,16,64")
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--queue", type=int, default=32, help="PALIMPSEST_DECODE_QUEUE")
    p.add_argument("--rounds", type=int, default=2, help="questions per client at levels <= 16")
    p.add_argument("--baseline", type=int, default=len(QUESTIONS), help="questions of the sequential baseline")
    args = p.parse_args()

    home = Path(tempfile.mkdtemp(prefix="palimpsest-serve-load-")) / "home"
    settings = {"PALIMPSEST_DEVICE": args.device, "PALIMPSEST_DECODE_QUEUE": str(args.queue), "PALIMPSEST_GUARD": "false",
                "PALIMPSEST_EDIT_COVARIANCE": "identity",  # no key statistics computed at start-up meanwhile
                **({"PALIMPSEST_DTYPE": args.dtype} if args.dtype else {})}
    with serving(home, args.model or None, **settings) as url:
        warm = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=600)
        ask(warm, 0, 8)
        baseline, seconds = [], time.perf_counter()
        for q in range(args.baseline):
            baseline.append(ask(warm, q, args.tokens))
        seconds = time.perf_counter() - seconds
        assert all(r.status == 200 for r in baseline), [r.error for r in baseline]
        base_rate = sum(r.tokens for r in baseline) / seconds
        reference = {r.question: r.text for r in baseline}
        print(f"sequential baseline: {len(baseline)} questions, {base_rate:.1f} tokens/s, "
              f"TTFT p50 {pct([r.ttft for r in baseline], 50):.2f} s")
        print(f"{'clients':>7} {'answers':>7} {'tok/s':>7} {'x base':>6} {'TTFT p50':>8} {'TTFT p95':>8} "
              f"{'lat p95':>7} {'same':>7} {'429/503':>7} {'refused in':>10} {'other err':>9}")
        for level in (int(x) for x in args.levels.split(",")):
            rounds = args.rounds if level <= 16 else 1
            results, wall = run_level(url, level, rounds, args.tokens)
            ok = [r for r in results if r.status == 200]
            refused = [r for r in results if r.status in (429, 503)]
            other = [r for r in results if r.status not in (200, 429, 503)]
            rate = sum(r.tokens for r in ok) / wall
            compared = [r for r in ok if r.question in reference]
            same = sum(r.text == reference[r.question] for r in compared)
            print(f"{level:>7} {len(ok):>7} {rate:>7.1f} {rate / base_rate:>6.2f} {pct([r.ttft for r in ok], 50):>8.2f} "
                  f"{pct([r.ttft for r in ok], 95):>8.2f} {pct([r.latency for r in ok], 95):>7.2f} "
                  f"{same:>3}/{len(compared):<3} {len(refused):>7} "
                  f"{max((r.latency for r in refused), default=0):>9.2f}s {len(other):>9}")
            for r in other[:3]:
                print(f"    error {r.status}: {r.error}")
        start = time.perf_counter()
        health = httpx.get(url + "/healthz", timeout=10).status_code
        print(f"/healthz after the last level: {health} in {time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
