"""Forward passes of several decoders on the same cores, one at a time, the chat's first.

An ingest's extraction decodes in a batch of its own
(``serving.services.extraction.BackgroundExtractor``), beside the chat's batch, and both need the
same cores: in one shared batch, side by side, or strictly in turn, a chat took about twice its time
while an ingest ran.
Here, while the foreground works, the background's passes take ``share`` of the time: after a pass
of d seconds the background waits d·(1 − share)/share, then goes before the next foreground pass.
While the foreground rests (no pass for ``rest`` seconds), the background takes all of the time.

    turns = Turns(share=0.25)
    Decoder(host, ..., turn=turns.foreground)        # the chat's batch
    Decoder(copied, ..., turn=turns.background)      # an ingest's extraction
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator


class Turns:
    """One forward pass at a time; the background's within ``share`` while the foreground works."""

    def __init__(self, share: float = 0.25, rest: float = 0.05) -> None:
        if not 0.0 < share < 1.0:
            raise ValueError(f"share must be in (0, 1), not {share}")
        self.share, self.rest = share, rest
        self._cond = threading.Condition()
        self._busy = False
        self._foreground_waiting = self._background_waiting = 0
        self._foreground_end = float("-inf")
        self._background_after = float("-inf")

    @contextlib.contextmanager
    def foreground(self) -> Iterator[None]:
        with self._cond:
            self._foreground_waiting += 1
            try:
                self._cond.wait_for(lambda: not self._busy and not self._background_due())
            finally:
                self._foreground_waiting -= 1
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._foreground_end = time.monotonic()
                self._cond.notify_all()

    @contextlib.contextmanager
    def background(self) -> Iterator[None]:
        with self._cond:
            self._background_waiting += 1
            try:
                while (wait := self._background_wait()) != 0.0:
                    self._cond.wait(wait)
            finally:
                self._background_waiting -= 1
            self._busy = True
        started = time.monotonic()
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                now = time.monotonic()
                self._background_after = now + (now - started) * (1.0 - self.share) / self.share
                self._cond.notify_all()

    def foreground_working(self) -> bool:
        """A foreground pass runs or waits, or one ended less than ``rest`` seconds ago."""
        with self._cond:
            return (self._busy or self._foreground_waiting > 0
                    or time.monotonic() - self._foreground_end < self.rest)

    def _background_due(self) -> bool:
        """A background pass waits and has waited out its share: it goes before the next foreground one."""
        return self._background_waiting > 0 and time.monotonic() >= self._background_after

    def _background_wait(self) -> float | None:
        """Seconds before a background pass may start: 0.0 now, None until a pass ends."""
        if self._busy:
            return None
        now = time.monotonic()
        if now >= self._background_after:
            return 0.0
        if self._foreground_waiting:
            return None
        resting = now - self._foreground_end
        return 0.0 if resting >= self.rest else min(self._background_after - now, self.rest - resting)
