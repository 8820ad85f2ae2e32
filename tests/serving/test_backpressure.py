"""Back-pressure and /metrics on a real server over the tiny Llama: past the decode queue bound a
completion is refused at once with 503 and ``Retry-After``, the server stays healthy, and
``/metrics`` parses with ``prometheus_client.parser`` and counts what happened."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

CLIENTS = 12
BODY = {"messages": [{"role": "user", "content": "the capital of france is"}], "max_tokens": 110,
        "temperature": 0, "stream": True}


def _stream(url: str) -> tuple[int, str | None, int]:
    """Status, Retry-After, and the count of content chunks of one streamed chat."""
    with httpx.Client(timeout=60) as http, http.stream("POST", url + "/v1/chat/completions", json=BODY) as r:
        chunks = sum(1 for line in r.iter_lines() if line.startswith("data: {") and '"content"' in line)
        return r.status_code, r.headers.get("retry-after"), chunks


def _samples(url: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(url + "/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_queue_bound_refuses_with_503_and_metrics_count_it(start_server, tiny_model_dir: Path, tmp_path: Path):
    url = start_server(tmp_path / "home", PALIMPSEST_MODEL=str(tiny_model_dir), PALIMPSEST_GUARD="false",
                       PALIMPSEST_MEMORY_EXTRACTOR="rule", PALIMPSEST_DECODE_BATCH="1", PALIMPSEST_DECODE_QUEUE="1",
                       PALIMPSEST_RETRY_AFTER="4", PALIMPSEST_EDIT_COVARIANCE="identity")
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda _: _stream(url), range(CLIENTS)))
    statuses = sorted(status for status, _, _ in results)
    assert set(statuses) == {200, 503}, statuses
    assert 2 <= statuses.count(200) < CLIENTS
    assert all(retry == "4" for status, retry, _ in results if status == 503)
    assert all(chunks > 0 for status, _, chunks in results if status == 200)
    assert httpx.get(url + "/healthz", timeout=2).status_code == 200

    samples = _samples(url)
    route = "/v1/chat/completions"
    ok = samples[("palimpsest_requests_total", (("method", "POST"), ("route", route), ("status", "200")))]
    refused = samples[("palimpsest_request_errors_total", (("method", "POST"), ("route", route), ("status", "503")))]
    assert (ok, refused) == (statuses.count(200), statuses.count(503))
    assert samples[("palimpsest_decode_rejected_total", (("reason", "queue_full"),))] == statuses.count(503)
    assert samples[("palimpsest_time_to_first_token_seconds_count", ())] == statuses.count(200)
    assert samples[("palimpsest_generated_tokens_total", ())] >= statuses.count(200) * 100
    assert samples[("palimpsest_decode_queue_depth", ())] == 0
    assert samples[("palimpsest_memory_items", (("kind", "passages"),))] == 0
