"""What the server counts, in Prometheus' format (``GET /metrics``): one registry per engine.

>>> metrics = Metrics()
>>> metrics.tokens.inc(3)
>>> b"palimpsest_generated_tokens_total 3.0" in metrics.exposition()
True
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 300.0)
"""Histogram buckets in seconds, for request and first-token times."""


class Metrics:
    """Counters, gauges and histograms of one server; the HTTP layer, the decoder and the engine report here."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("palimpsest_requests", "HTTP requests answered, by route and status",
                                ["method", "route", "status"], registry=r)
        self.errors = Counter("palimpsest_request_errors", "HTTP requests answered with a status >= 400",
                              ["method", "route", "status"], registry=r)
        self.request_seconds = Histogram("palimpsest_request_seconds", "Time to answer a request (streams: "
                                         "to their first byte)", ["route"], buckets=LATENCY, registry=r)
        self.queue_depth = Gauge("palimpsest_decode_queue_depth", "Requests waiting to join the decode batch",
                                 registry=r)
        self.batch_size = Gauge("palimpsest_decode_batch_size", "Requests in the decode batch", registry=r)
        self.batch_rows = Histogram("palimpsest_decode_step_rows", "Rows of the KV cache per decode step "
                                    "(a grounded request takes two)", buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r)
        self.ttft = Histogram("palimpsest_time_to_first_token_seconds", "From a decode's submission to its "
                              "first token", buckets=LATENCY, registry=r)
        self.tokens = Counter("palimpsest_generated_tokens", "Tokens sampled by the decoder", registry=r)
        self.tokens_per_second = Gauge("palimpsest_decode_tokens_per_second",
                                       "Tokens per second of the latest decode step, all rows together", registry=r)
        self.rejected = Counter("palimpsest_decode_rejected", "Decodes refused: queue_full (503 with "
                                "Retry-After) or timeout", ["reason"], registry=r)
        self.updates = Histogram("palimpsest_update_seconds", "Time to apply or revert a weight change, by kind",
                                 ["kind"], buckets=LATENCY, registry=r)
        self.guard = Counter("palimpsest_guard_verdicts", "Regression-guard verdicts on weight changes",
                             ["verdict"], registry=r)
        self.memory = Gauge("palimpsest_memory_items", "Items in the graph memory, by kind", ["kind"], registry=r)

    def watch_memory(self, kind: str, size: Callable[[], float]) -> None:
        """Report ``size()`` as the memory's count of ``kind`` at every scrape."""
        self.memory.labels(kind).set_function(size)

    def exposition(self) -> bytes:
        """The text format (version 0.0.4) of every metric."""
        return generate_latest(self.registry)
