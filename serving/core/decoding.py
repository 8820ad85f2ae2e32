"""Continuous batching: concurrent decodes share each forward pass, handed to their callers
piece by piece through a queue.

    request ── submit(ids, params) ──▶ waiting (bounded) ──▶ scheduler thread, under host.reading():
       ▲                                                        join at a step boundary (prefill)
       │                                                        step: one token for every row
       └── for / async for ◀── Generation (unbounded queue) ◀── pieces; leave when finished/cancelled

One scheduler thread owns the batch (``serving.core.batch.KVBatch``). Requests join between steps,
up to ``max_batch``; finished, cancelled and timed-out ones leave between steps. A request that
finds the batch full and ``max_queue`` others waiting for a place is refused at once with
:class:`OverloadedError` (503 with ``Retry-After``); a burst that arrives while a step runs waits
for the batch's free places, and only what is beyond them counts against ``max_queue``.

Weights never change under an answer: the scheduler holds the model's read lock while its batch
runs. When a weight change waits for the lock, no request joins any more; the ones in flight
finish on the weights they started with, the lock is released, the change lands, and the waiting
requests start on the new weights. So a change waits for the answers in flight (at most
``max_tokens`` steps), never the other way round, and nothing on a request thread or the event loop
ever holds or waits for the lock (the issue-16 deadlock rule).

Why not transformers' own continuous batching (``generate_batch``, ``init_continuous_batching``,
5.x): it samples with the global RNG (no per-request seed), has no stop strings, no
context-aware guidance, and runs its own thread over the model outside our read lock, with a
paged-attention implementation swapped into the shared model; this scheduler keeps the
single-request decoder's sampling and pieces row by row.

>>> generation = engine.decoder.submit(ids, SamplingParams(max_tokens=16, temperature=0.0))
>>> "".join(piece.text for piece in generation)  # or ``async for piece in generation``
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import torch

from .batch import KVBatch
from .errors import OverloadedError, UnavailableError
from .generation import Piece, SamplingParams, TextStream, contrast, continues_word, sample_token, stop_token_ids
from .metrics import Metrics
from .model_host import ModelHost

log = logging.getLogger("palimpsest.decoding")

class Generation:
    """The pieces of one decode as they come; read them once, with ``for`` or with ``async for``.

    Leaving the loop early (a client that went away) or :meth:`cancel` stops the decode at its
    next step. An error raised while decoding is raised in the reader.
    """

    def __init__(self) -> None:
        self._items: queue.SimpleQueue[Piece | BaseException | None] = queue.SimpleQueue()
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._wake: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()

    def put(self, item: Piece | BaseException | None) -> None:
        """Worker side: a piece, the error that ended the decode, or ``None`` after the last piece."""
        self._items.put(item)
        with self._lock:
            wake = self._wake
        if wake is not None:
            loop, event = wake
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the reader's event loop is closed: nobody reads any more
                self.cancel()

    def _take(self, item: Piece | BaseException | None) -> Piece | None:
        if isinstance(item, BaseException):
            raise item
        return item

    def __iter__(self) -> Iterator[Piece]:
        try:
            while (piece := self._take(self._items.get())) is not None:
                yield piece
        finally:
            self.cancel()

    async def __aiter__(self) -> AsyncIterator[Piece]:
        event = asyncio.Event()
        with self._lock:
            self._wake = (asyncio.get_running_loop(), event)
        try:
            while True:
                try:
                    item = self._items.get_nowait()
                except queue.Empty:
                    await event.wait()  # set (on this loop) after every put
                    event.clear()
                    continue
                if (piece := self._take(item)) is None:
                    return
                yield piece
        finally:
            self.cancel()


@dataclass(eq=False)
class _Request:
    """One decode in the scheduler: its prompt, sampling state, text and where its pieces go."""

    ids: list[int]
    params: SamplingParams
    generation: Generation
    submitted: float
    deadline: float
    text: TextStream | None = None
    generator: torch.Generator | None = None
    token: int = 0
    """The last sampled token, fed at the next step."""
    sampled: int = 0
    rows: list[int] = field(default_factory=list)
    """Its rows in the batch: the prompt's, then (guided) the ungrounded prompt's."""


class Decoder:
    """Decodes submitted prompts in one continuous batch on a scheduler thread.

    ``max_batch``: requests decoding together; ``max_queue``: requests waiting beyond the batch's
    free places, past which :meth:`submit` refuses; ``timeout``: seconds from submission after which a waiting request fails
    with :class:`OverloadedError` and a decoding one ends with ``finish_reason`` ``"length"``;
    ``turn``: held around each forward pass (``serving.core.turns.Turns``), when other model work
    shares the cores; ``max_join``: asked before each join, the most prompts to prefill in one pass
    (None: as many as the batch has room for).
    """

    def __init__(self, host: ModelHost, max_batch: int = 16, max_queue: int = 32, timeout: float = 300.0,
                 metrics: Metrics | None = None, retry_after: int = 2,
                 turn: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
                 max_join: Callable[[], int | None] = lambda: None) -> None:
        self.host, self._turn, self._max_join = host, turn, max_join
        self.max_batch, self.max_queue, self.timeout, self.retry_after = max_batch, max_queue, timeout, retry_after
        self.metrics = metrics or Metrics()
        self._eos = stop_token_ids(host.model, host.tokenizer)
        self._waiting: deque[_Request] = deque()
        self._running: list[_Request] = []
        self._joining = 0  # taken from the queue, being prefilled, not yet in _running
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="palimpsest-batch", daemon=True)
        self._thread.start()

    def submit(self, ids: list[int], params: SamplingParams) -> Generation:
        """Queue a decode of the prompt ``ids``; its pieces arrive through the returned handle.
        Raises :class:`OverloadedError` when the batch is full and ``max_queue`` requests already wait."""
        generation = Generation()
        now = time.monotonic()
        with self._cond:
            if self._closed:
                raise UnavailableError("the server is shutting down; send the request again")
            free = max(0, self.max_batch - len(self._running) - self._joining)
            if len(self._waiting) >= self.max_queue + free:
                self.metrics.rejected.labels("queue_full").inc()
                raise OverloadedError(f"the server is busy ({len(self._waiting)} requests waiting to decode); "
                                      f"retry in {self.retry_after} s", self.retry_after)
            self._waiting.append(_Request(ids, params, generation, now, now + self.timeout))
            self.metrics.queue_depth.set(len(self._waiting))
            self._cond.notify()
        return generation

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
            try:
                with self.host.reading():  # released only with no request in flight: see the module doc
                    batch = KVBatch(self.host.model)
                    while not self._closed:
                        if not self.host.change_waiting():
                            self._admit(batch)
                        if not self._running:
                            break
                        self._step(batch)
            except Exception as exc:  # a broken forward pass fails the requests in flight, not the server
                log.exception("decode step failed")
                with self._cond:
                    running, self._running = self._running, []
                for request in running:
                    request.generation.put(exc)
            finally:
                self.metrics.batch_size.set(len(self._running))

    def _admit(self, batch: KVBatch) -> None:
        """Move waiting requests into the batch (prefilled together); drop cancelled and expired ones."""
        now, joining, most = time.monotonic(), [], self._max_join() or self.max_batch
        with self._cond:
            while self._waiting and len(self._running) + len(joining) < self.max_batch and len(joining) < most:
                request = self._waiting.popleft()
                if request.generation.cancelled:
                    request.generation.put(None)
                elif now > request.deadline:
                    self.metrics.rejected.labels("timeout").inc()
                    request.generation.put(OverloadedError(
                        f"the request waited {self.timeout:.0f} s to decode; retry later", self.retry_after))
                else:
                    joining.append(request)
            self._joining = len(joining)
            self.metrics.queue_depth.set(len(self._waiting))
        if not joining:
            return
        prompts, outside = [], []
        for request in joining:
            request.rows = [len(batch) + len(prompts) + i for i in range(1 + (request.params.guidance is not None))]
            prompts.append(request.ids)
            if request.params.guidance is not None:
                prompts.append(request.params.guidance.plain_ids)
            outside += [not request.params.edits] * len(request.rows)
            request.text = TextStream(self.host.tokenizer, request.params.stop)
            if request.params.seed is not None:
                request.generator = torch.Generator(device="cpu").manual_seed(request.params.seed)
        try:
            with self._turn():
                logits = batch.join(prompts, outside)
        except Exception as exc:
            with self._cond:
                self._joining = 0
            for request in joining:
                request.generation.put(exc)
            return
        offset = len(batch) - len(prompts)
        with self._cond:
            self._running.extend(joining)
            self._joining = 0
        self._advance(joining, logits, offset)
        self._settle(batch)

    def _step(self, batch: KVBatch) -> None:
        tokens = [0] * len(batch)
        for request in self._running:
            for row in request.rows:
                tokens[row] = request.token
        started = time.perf_counter()
        with self._turn():
            logits = batch.step(tokens)
        self.metrics.batch_rows.observe(len(batch))
        self._advance(self._running, logits, 0)
        self.metrics.tokens_per_second.set(len(self._running) / max(time.perf_counter() - started, 1e-9))
        self._settle(batch)

    def _advance(self, requests: list[_Request], logits: torch.Tensor, offset: int) -> None:
        """Sample each request's next token from its rows' logits and hand over its text."""
        now = time.monotonic()
        for request in requests:
            if request.generation.cancelled or request.text.done:
                continue
            row = logits[request.rows[0] - offset]
            if request.params.guidance is not None:
                row = self._contrast(row, logits[request.rows[1] - offset], request.params, request.text.generated)
            token = sample_token(row.float().cpu(), request.params, request.generator)
            request.sampled += 1
            self.metrics.tokens.inc()
            if request.sampled == 1:
                self.metrics.ttft.observe(now - request.submitted)
            if token in self._eos:
                request.generation.put(request.text.finish("stop"))
            else:
                request.token = token
                if (piece := request.text.push(token)) is not None:
                    request.generation.put(piece)
                if not request.text.done and (request.sampled >= request.params.max_tokens or now > request.deadline):
                    request.generation.put(request.text.finish("length"))
            if request.text.done:
                request.generation.put(None)

    def _contrast(self, grounded: torch.Tensor, plain: torch.Tensor, params: SamplingParams,
                  generated: list[int]) -> torch.Tensor:
        """Context-aware decoding of one row (``generation.contrast``, as ``decode_stream`` does it)."""
        return contrast(grounded, plain, params.guidance, continues_word(self.host.tokenizer), generated)

    def _settle(self, batch: KVBatch) -> None:
        """Finished and cancelled requests leave the batch (a cancelled one's reader gets the end)."""
        staying, keep = [], []
        for request in self._running:
            if request.text.done:
                continue
            if request.generation.cancelled:
                request.generation.put(None)
                continue
            new_rows = list(range(len(keep), len(keep) + len(request.rows)))
            keep.extend(request.rows)
            request.rows = new_rows
            staying.append(request)
        batch.keep(keep)
        self._running = staying
        self.metrics.batch_size.set(len(staying))

    def close(self, wait: float = 30.0) -> None:
        """Stop every decode: waiting ones never start, running ones stop at their next step. Returns
        once the worker has left its step (at most ``wait`` seconds), so nothing reads the weights after."""
        with self._cond:
            self._closed = True
            live = [r.generation for r in self._waiting] + [r.generation for r in self._running]
            self._waiting.clear()
            self._cond.notify_all()
        for generation in live:
            generation.cancel()
            generation.put(UnavailableError("the server is shutting down; send the request again"))
        if threading.current_thread() is not self._thread:
            self._thread.join(wait)
