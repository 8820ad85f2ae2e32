"""No deadlock under load (issue 16): a stream decoding, a revert waiting for the write lock, and
45 chats arriving meanwhile all finish, and ``/healthz`` answers within 2 s throughout.

Before, each chunk of a stream needed a thread from the server's pool of 40 while the stream held
the read lock; the waiting revert made the 45 chats block in the lock on every pool thread, and
nothing moved again.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.helpers.models import save_model_dir, tiny_llama

CHATS = 45
EDIT = {"prompt": "the capital of france is", "subject": "france", "target_new": "rome"}
QUESTION = [{"role": "user", "content": "the capital of france is"}]


class HealthWatch:
    """Polls ``/healthz`` (2 s timeout) in a thread until stopped; keeps each answer's latency."""

    def __init__(self, url: str) -> None:
        self.url, self.latencies, self.failures = url, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        with httpx.Client(timeout=2) as http:
            while not self._stop.is_set():
                start = time.monotonic()
                try:
                    http.get(self.url + "/healthz").raise_for_status()
                    self.latencies.append(time.monotonic() - start)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self._stop.wait(0.1)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _chat(url: str) -> int:
    body = {"model": "m", "messages": QUESTION, "max_tokens": 8, "temperature": 0}
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=90).status_code


def test_a_stream_a_revert_and_45_chats_all_finish(start_server, tmp_path: Path):
    # A longer context than the default tiny model, so the stream outlasts sending the revert and the chats.
    model_dir = save_model_dir(tiny_llama(max_position_embeddings=1024), tmp_path / "tiny")
    url = start_server(tmp_path / "home", PALIMPSEST_MODEL=str(model_dir), PALIMPSEST_GUARD="false",
                       PALIMPSEST_EDIT_COVARIANCE="identity", PALIMPSEST_DECODE_QUEUE=str(CHATS))  # all wait, none refused
    edit = httpx.post(url + "/v1/edits", json=EDIT, timeout=120)
    assert edit.status_code == 201, edit.text
    entry = edit.json()["entry"]["id"]

    body = {"model": "m", "messages": QUESTION, "max_tokens": 900, "temperature": 0, "stream": True}
    with HealthWatch(url) as health, ThreadPoolExecutor(CHATS + 1) as pool:
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=90) as stream:
            events = (line[6:] for line in stream.iter_lines() if line.startswith("data: "))
            next(events)  # the role chunk
            next(events)  # the first text: the decode holds the read lock now
            revert = pool.submit(httpx.post, f"{url}/v1/history/{entry}/revert", timeout=90)
            time.sleep(0.3)  # the revert now waits for the write lock, and new readers wait behind it
            chats = [pool.submit(_chat, url) for _ in range(CHATS)]
            revert_waited = not revert.done()
            rest = list(events)
        statuses = [c.result(timeout=120) for c in chats]
        reverted = revert.result(timeout=120)

    assert revert_waited, "the revert did not wait for the stream, so the test proved nothing"
    assert rest[-1] == "[DONE]"
    assert json.loads(rest[-2])["choices"][0]["finish_reason"] == "length"
    assert statuses == [200] * CHATS
    assert reverted.status_code == 200 and reverted.json()["status"] == "reverted"
    assert httpx.get(url + "/v1/state").json()["applied"] == []
    assert not health.failures, health.failures[:3]
    assert health.latencies and max(health.latencies) < 2.0
