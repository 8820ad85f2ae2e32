"""Decoding on the decode workers, handed to the caller piece by piece through a queue.

    request ── submit(ids, params) ──▶ Decoder ──▶ worker: decode_stream under host.reading()
       ▲                                                            │ pieces
       └──── for / async for ◀──── Generation (unbounded queue) ◀───┘

The model's read lock is taken and released on the worker, never on a request thread, and a worker
never waits for its reader. So a weight change waiting for the lock (the lock prefers writers)
stalls neither the event loop, nor the server's thread pool, nor a stream in flight: the decodes
that hold the lock finish on their own, the change lands, and the queued ones go on. A batched
scheduler can replace the workers behind the same ``submit``.

>>> generation = engine.decoder.submit(ids, SamplingParams(max_tokens=16, temperature=0.0))
>>> "".join(piece.text for piece in generation)  # or ``async for piece in generation``
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

from .errors import UnavailableError
from .generation import Piece, SamplingParams, decode_stream
from .model_host import ModelHost

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


class Decoder:
    """Runs generations on ``workers`` threads, first come first served, each under the read lock."""

    def __init__(self, host: ModelHost, workers: int = 4) -> None:
        self.host = host
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="palimpsest-decode")
        self._live: set[Generation] = set()
        self._lock = threading.Lock()

    def submit(self, ids: list[int], params: SamplingParams) -> Generation:
        """Queue a decode of the prompt ``ids``; its pieces arrive through the returned handle."""
        generation = Generation()
        with self._lock:
            self._live.add(generation)
        self._pool.submit(self._run, generation, ids, params)
        return generation

    def _run(self, generation: Generation, ids: list[int], params: SamplingParams) -> None:
        try:
            if not generation.cancelled:
                with self.host.reading():
                    for piece in decode_stream(self.host.model, self.host.tokenizer, ids, params):
                        if generation.cancelled:
                            break
                        generation.put(piece)
        except Exception as exc:  # the reader raises it
            generation.put(exc)
        else:
            generation.put(None)
        finally:
            with self._lock:
                self._live.discard(generation)

    def close(self) -> None:
        """Stop every decode: queued ones never start, running ones stop at their next step."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            live, self._live = list(self._live), set()
        for generation in live:
            generation.cancel()
            generation.put(UnavailableError("the server is shutting down; send the request again"))
