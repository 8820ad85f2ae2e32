"""kill -9 a real server in the middle of an edit, restart it, and check what it rebuilt.

    python bench/kill9.py [--model tiny|PATH] [--trials 3] [--guard]

Each trial, on a fresh home: two edits are applied and the weights' fingerprint noted; a third edit
is sent and the server is killed (SIGKILL) at a point spread over the second edit's duration
(trial i of n at (i + 0.5) / n of it). After a restart:

- the history holds no pending entry, every applied entry's delta file and (edits) keys file exist,
  and no delta file is left without its entry;
- if the third edit is not applied, the fingerprint equals the one before it, bit for bit (the
  weights rebuilt from the base and the deltas); if it is, reverting it gives that fingerprint
  back, and with the guard on its entry carries a verdict;
- a second restart gives the same fingerprint, and a new edit still applies.

Issue 16 target: consistent every time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import start_server  # noqa: E402

TINY_EDITS = [
    {"prompt": "the capital of france is", "subject": "france", "target_new": "rome"},
    {"prompt": "the capital of italy is", "subject": "italy", "target_new": "paris"},
    {"prompt": "the cat is located in", "subject": "cat", "target_new": "rome"},
    {"prompt": "the dog is located in", "subject": "dog", "target_new": "paris"},
]
MODEL_EDITS = [
    {"prompt": "The Eiffel Tower is located in the city of", "subject": "The Eiffel Tower", "target_new": "Rome"},
    {"prompt": "The Colosseum is located in the city of", "subject": "The Colosseum", "target_new": "London"},
    {"prompt": "Danielle Darrieux's mother tongue is", "subject": "Danielle Darrieux", "target_new": "English"},
    {"prompt": "The Space Needle is located in the city of", "subject": "The Space Needle", "target_new": "Tokyo"},
]


def edit(url: str, body: dict, timeout: float = 1200) -> httpx.Response:
    return httpx.post(url + "/v1/edits", json=body, timeout=timeout)


def get(url: str, path: str) -> dict:
    response = httpx.get(url + path, timeout=120)
    response.raise_for_status()
    return response.json()


def check_files(home: Path, history: list[dict]) -> list[str]:
    """Problems with the files behind the history: missing deltas or keys, orphan deltas."""
    problems = [f"{e['id']} is pending after the restart" for e in history if e["status"] == "pending"]
    deltas = {p.name.split(".")[0] for p in (home / "deltas").iterdir()}
    keys = {p.name.split(".")[0] for p in (home / "edits" / "keys").glob("*.safetensors")}
    ids = {e["id"] for e in history}
    for e in history:
        if e["status"] == "applied" and e["kind"] != "memory" and e["id"] not in deltas:
            problems.append(f"{e['id']} is applied without its delta file")
        if e["status"] == "applied" and e["kind"] == "edit" and e["id"] not in keys:
            problems.append(f"{e['id']} is applied without its keys")
    problems += [f"delta file {d} has no entry" for d in sorted(deltas - ids)]
    return problems


def trial(args: argparse.Namespace, index: int, edits: list[dict], root: Path) -> dict:
    home = root / f"trial{index}" / "home"
    env = {"PALIMPSEST_GUARD": str(args.guard).lower()}
    proc, url = start_server(home, args.model or None, **env)
    try:
        for body in edits[:2]:  # the second one, warm, times an edit
            started = time.monotonic()
            response = edit(url, body)
            assert response.status_code == 201, response.text
        seconds = time.monotonic() - started
        before = get(url, "/v1/state")
        delay = seconds * (index + 0.5) / args.trials
        answer: dict = {}
        sender = threading.Thread(target=lambda: answer.update(r=_quietly(edit, url, edits[2])), daemon=True)
        sender.start()
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        sender.join(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()

    proc, url = start_server(home, args.model or None, **env)
    try:
        state, history = get(url, "/v1/state"), get(url, "/v1/history")["data"]
        third = [e for e in history if e["id"] not in before["applied"]]
        problems = check_files(home, history)
        survived = [e for e in third if e["status"] == "applied"]
        if not survived:
            outcome = "lost"
            if state["fingerprint"] != before["fingerprint"]:
                problems.append("the fingerprint differs from the one before the killed edit")
        else:
            outcome = "applied"
            if args.guard and "guard" not in survived[0]["details"]:
                problems.append(f"{survived[0]['id']} is applied without a verdict")
        if state["applied"] != before["applied"] + [e["id"] for e in survived]:
            problems.append(f"applied {state['applied']} != {before['applied']} + the killed edit")
    finally:
        proc.terminate()
        proc.wait(timeout=60)

    proc, url = start_server(home, args.model or None, **env)
    try:
        if get(url, "/v1/state")["fingerprint"] != state["fingerprint"]:
            problems.append("a second restart rebuilt other weights")
        if survived:
            httpx.post(f"{url}/v1/history/{survived[0]['id']}/revert", timeout=600).raise_for_status()
            if get(url, "/v1/state")["fingerprint"] != before["fingerprint"]:
                problems.append("reverting the killed edit did not give the earlier weights back")
        after = edit(url, edits[3])
        if after.status_code != 201:
            problems.append(f"a new edit after the restart answered {after.status_code}: {after.text[:200]}")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {"trial": index, "kill after s": round(delay, 2), "edit s": round(seconds, 2), "outcome": outcome,
            "answered before the kill": answer.get("r"), "entries": len(history), "consistent": not problems,
            "problems": problems}


def _quietly(fn, *args) -> int | str:
    try:
        return fn(*args).status_code
    except httpx.HTTPError as exc:
        return type(exc).__name__


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny", help="'tiny' (default), a path or a hub id ('': the default model)")
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--guard", action="store_true", help="run the regression guard")
    args = p.parse_args()
    edits = TINY_EDITS if args.model == "tiny" else MODEL_EDITS
    root = Path(tempfile.mkdtemp(prefix="palimpsest-kill9-"))
    results = [trial(args, i, edits, root) for i in range(args.trials)]
    for r in results:
        print(json.dumps(r))
    print(f"consistent: {sum(r['consistent'] for r in results)} of {len(results)} "
          f"(third edit lost {sum(r['outcome'] == 'lost' for r in results)}, "
          f"applied {sum(r['outcome'] == 'applied' for r in results)}); logs under {root}")


if __name__ == "__main__":
    main()
