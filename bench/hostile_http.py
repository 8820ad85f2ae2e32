"""Hostile HTTP against a real server: the hand-written hostile set, then schemathesis over every
operation of ``/openapi.json``; counts of 5xx and of errors that changed state.

    python bench/hostile_http.py [--model tiny|PATH] [--max-examples 10] [--max-time 420] [--st PATH]

The server runs on the CPU (``palimpsest serve``) with an API key and the hostile test's limits
(max_tokens 8: chats are capped), rule extraction, C = I edits and no guard unless ``--guard``.
``--model tiny`` (the default) is the tests' tiny Llama; a path or hub id runs that model.

1. The hand-written set: ``tests/serving/test_hostile.py``'s bodies plus raw requests (lone
   surrogates, a non-ASCII key, oversized and chunked bodies, foreign Host headers, 405). Each
   must answer its expected 4xx, and the state (weights, history, memory, skills, exports) must
   be the same after it.
2. schemathesis (a tool from PyPI, not a dependency: ``pip install -e '.[bench]'`` or any
   environment with its ``st`` command, passed as ``--st``), with the checks not_a_server_error,
   status_code_conformance, content_type_conformance and response_schema_conformance; its hooks
   (``bench/hostile_hooks.py``) compare the state around every request.

Targets (issue 16): 0 x 5xx, 0 schema violations, 0 state changes after an error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from common import serving  # noqa: E402
from hostile_hooks import record, state, wait_for_job  # noqa: E402

KEY = "bench-s3cret"
LIMITS = {"PALIMPSEST_MAX_BODY_BYTES": "20000", "PALIMPSEST_MAX_TOKENS": "8", "PALIMPSEST_MAX_DOCUMENTS": "2",
          "PALIMPSEST_MAX_FACTS": "3", "PALIMPSEST_SKILL_MAX_EXAMPLES": "4"}
"""The limits tests/serving/test_hostile.py runs with, so its expected statuses hold here."""
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def raw_cases() -> list[tuple[str, str, dict[str, str | bytes], bytes | None, int]]:
    """(method, path, headers, body, expected status) that a JSON body cannot express."""
    auth = {"Authorization": f"Bearer {KEY}"}
    as_json = {**auth, "content-type": "application/json"}
    fact = '{{"facts": [{{"subject": {}, "relation": "is", "object": "a cat"}}]}}'
    return [
        ("POST", "/v1/memory/facts", as_json, fact.format('"the cat \\ud800"').encode(), 400),
        ("POST", "/v1/memory/facts", as_json, fact.format('"\\udc00 the cat"').encode(), 400),
        ("POST", "/v1/chat/completions", as_json, b'{"messages": [{"role": "user", "content": "the \xed\xa0\x80"}]}', 400),
        ("POST", "/v1/chat/completions", as_json, b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}', 400),
        ("POST", "/v1/memory/facts", {"Authorization": "Bearer cl\xe9".encode("latin-1")}, b"{not json", 401),
        ("POST", "/v1/memory/facts", {"Authorization": b"Bearer \xff\xfe"}, b"{not json", 401),
        ("POST", "/v1/memory/facts", {"Authorization": "Bearer wrong"}, b"{}", 401),
        ("POST", "/v1/memory/facts", {"Authorization": "Basic " + KEY}, b"{}", 401),
        ("POST", "/v1/memory/facts", {}, b"{}", 401),
        ("POST", "/v1/memory/facts", as_json, b'{"facts": [' + b"x" * 30_000 + b"]}", 413),
        ("POST", "/v1/memory/facts", as_json, b"{not json", 422),
        ("POST", "/v1/memory/facts", as_json, b"[]", 422),
        ("POST", "/v1/chat/completions", as_json, b'{"messages": "nope"}', 422),
        ("POST", "/v1/edits", as_json, b'{"prompt": "", "subject": "", "target_new": ""}', 422),
        ("GET", "/v1/state", {**auth, "host": "evil.example"}, None, 400),
        ("GET", "/v1/state", {**auth, "host": "127.0.0.1.nip.io:8000"}, None, 400),
        ("GET", "/v1/edits", auth, None, 405),
        ("PUT", "/v1/history", auth, None, 405),
        ("GET", "/v1/history/%00", auth, None, 404),
    ]


def bad_content_length(url: str) -> int:
    """The status of a request whose Content-Length is not a number (no client library sends one)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as conn:
        conn.sendall(f"POST /v1/memory/facts HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {KEY}\r\n"
                     "Content-Type: application/json\r\nContent-Length: many\r\nConnection: close\r\n\r\n{}".encode())
        return int(conn.recv(4096).split(b" ", 2)[1])


def chunked_body() -> Iterator[bytes]:
    for _ in range(30):
        yield b"x" * 1000


def hand_written(url: str, home: Path, log: Path) -> dict[str, int]:
    """Run the hand-written set; every request must answer its expected status and change nothing."""
    from tests.serving.test_hostile import HOSTILE

    cases = [(m, p, {"Authorization": f"Bearer {KEY}"}, json.dumps(b).encode() if b is not None else None, s,
              {"content-type": "application/json"}) for m, p, b, s in HOSTILE]
    cases += [(m, p, h, b, s, {}) for m, p, h, b, s in raw_cases()]
    cases.append(("POST", "/v1/memory/facts", {"Authorization": f"Bearer {KEY}"}, chunked_body, 413,
                  {"content-type": "application/json"}))
    counts: Counter[str] = Counter()
    with httpx.Client(base_url=url, timeout=120) as client:
        for method, path, headers, body, expected, extra in cases:
            before = state(url, KEY, home)
            content = body() if callable(body) else body
            response = client.request(method, path, headers={**extra, **headers}, content=content)
            if response.status_code == 202:
                wait_for_job(url, KEY, response.json())
            changed = state(url, KEY, home) != before
            record(log, method, path, response.status_code, changed)
            counts["requests"] += 1
            counts["5xx"] += response.status_code >= 500
            counts["changed"] += changed
            if response.status_code != expected:
                counts["unexpected status"] += 1
                print(f"  {method} {path}: expected {expected}, got {response.status_code} {response.text[:200]}")
            elif not _error_shaped(response):
                counts["not {error} shaped"] += 1
                print(f"  {method} {path}: {response.status_code} body is not {{'error': ...}}: {response.text[:200]}")
    before = state(url, KEY, home)
    status = bad_content_length(url)
    changed = state(url, KEY, home) != before
    record(log, "POST", "/v1/memory/facts (Content-Length: many)", status, changed)
    counts["requests"] += 1
    counts["5xx"] += status >= 500
    counts["changed"] += changed
    counts["unexpected status"] += status != 400
    return dict(counts)


def _error_shaped(response: httpx.Response) -> bool:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and bool(error.get("message"))


def fuzz(args: argparse.Namespace, url: str, home: Path, out: Path) -> dict[str, object]:
    """schemathesis over /openapi.json; the hooks log every request's status and state change."""
    st = args.st or shutil.which("st")
    if st is None:
        raise SystemExit("schemathesis is not installed: pip install -e '.[bench]' (or pass --st PATH)")
    log = out / "schemathesis.ndjson"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "hostile_hooks", "PYTHONPATH": str(REPO / "bench"),
           "BENCH_URL": url, "BENCH_KEY": KEY, "BENCH_HOME": str(home), "BENCH_LOG": str(log)}
    command = [st, "run", f"{url}/openapi.json", "-H", f"Authorization: Bearer {KEY}", "--checks", CHECKS,
               "--workers", "1", "--max-examples", str(args.max_examples), "--seed", str(args.seed),
               "--max-time", str(args.max_time), "--request-timeout", "300", "--suppress-health-check", "all",
               "--phases", "examples,coverage,fuzzing", "--report", "junit", "--report-dir", str(out / "report")]
    started = time.monotonic()
    proc = subprocess.run(command, env=env, cwd=out, capture_output=True, text=True)  # its cache goes to out/
    (out / "schemathesis.txt").write_text(proc.stdout + proc.stderr)
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    statuses = Counter(r["status"] // 100 * 100 for r in rows)
    failures = _junit_failures(out / "report")
    return {"requests": len(rows), "2xx": statuses[200], "4xx": statuses[400], "5xx": statuses[500],
            "changed after an error": sum(r["changed"] for r in rows), "failed checks": failures,
            "exit code": proc.returncode, "seconds": round(time.monotonic() - started, 1),
            "5xx requests": sorted({f"{r['method']} {r['path']} {r['status']}" for r in rows if r["status"] >= 500})}


def _junit_failures(folder: Path) -> dict[str, int]:
    """Failed checks by the first words of their message, from schemathesis's JUnit report."""
    import xml.etree.ElementTree as ET

    found: Counter[str] = Counter()
    for path in folder.glob("*.xml"):
        for case in ET.parse(path).getroot().iter("testcase"):
            for failure in [*case.iter("failure"), *case.iter("error")]:
                text = (failure.get("message") or failure.text or "").strip()
                title = next((line.strip() for line in text.splitlines() if line.strip().startswith("- ")), text[:60])
                found[f"{case.get('name')}: {title[:100]}"] += 1
    return dict(found)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny", help="'tiny' (default), a path or a hub id ('' : the default model)")
    p.add_argument("--max-examples", type=int, default=10, help="schemathesis cases per operation and phase")
    p.add_argument("--max-time", type=int, default=420, help="schemathesis's time budget in seconds")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--st", default=None, help="schemathesis's st command (default: on PATH)")
    p.add_argument("--guard", action="store_true", help="run the regression guard")
    p.add_argument("--skip-fuzz", action="store_true", help="only the hand-written set")
    args = p.parse_args()

    root = Path(tempfile.mkdtemp(prefix="palimpsest-hostile-"))
    home = root / "home"
    with serving(home, args.model or None, PALIMPSEST_API_KEY=KEY, PALIMPSEST_GUARD=str(args.guard).lower(),
                 PALIMPSEST_MEMORY_EXTRACTOR="rule", **LIMITS) as url:
        print(f"server {url} (model {args.model or 'default'}), home {home}")
        hand = hand_written(url, home, root / "hand.ndjson")
        print("hand-written set:", json.dumps(hand))
        if not args.skip_fuzz:
            fuzzed = fuzz(args, url, home, root)
            print("schemathesis:", json.dumps(fuzzed, indent=1))
            print(f"schemathesis output: {root / 'schemathesis.txt'}")


if __name__ == "__main__":
    main()
