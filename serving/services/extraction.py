"""Extraction at ingest in a continuous batch of its own, whose forward passes take the turns the
chat's batch leaves (``serving.core.turns``): while chats decode, an ingest's passes take
``extract_share`` of the time, so a chat waits for at most one of them per step.

    BackgroundExtractor(engine.host, None, config, turns=engine.turns).extract(passages)

Each passage in flight asks for its entity answer, then its triple answer; a row leaves the batch as
soon as its answer ends and the next prompt joins at the following step, so the batch stays full of
live rows instead of padding finished ones until the longest answer ends (``model.generate``).
The decoder holds the model's read lock while it decodes; the extractor's threads hold nothing.

Where the model is in float32 and the device multiplies bfloat16 natively, the extraction decodes
on a bfloat16 copy of the weights of that moment instead (``extract_dtype``): the copy is taken under
the read lock, so it never holds half a change, and a change that lands during the ingest does not
wait for it.
"""

from __future__ import annotations

import contextlib
import time

import torch

from editing.precision import copy_in
from memory.extract import Extraction, Progress
from memory.openie import Generate, LLMExtractor, LLMExtractorConfig

from serving.core.decoding import Decoder
from serving.core.errors import OverloadedError
from serving.core.generation import SamplingParams
from serving.core.model_host import ModelHost
from serving.core.turns import Turns


def decoder_generate(decoder: Decoder) -> Generate:
    """A greedy ``memory.openie.Generate`` over the decoder; a full decode queue is waited out
    (``retry_after`` seconds at a time, for at most the decoder's ``timeout``), not failed."""
    tokenizer = decoder.host.tokenizer

    def generate(text: str, max_new_tokens: int) -> str:
        ids = tokenizer(text).input_ids  # as ``model.generate`` gets it on the padded path
        params = SamplingParams(max_tokens=max_new_tokens, temperature=0.0)
        give_up = time.monotonic() + decoder.timeout
        while True:
            try:
                generation = decoder.submit(ids, params)
                break
            except OverloadedError as exc:
                if time.monotonic() + exc.retry_after > give_up:
                    raise
                time.sleep(exc.retry_after)
        return "".join(piece.text for piece in generation)

    return generate


JOIN_WHILE_CHATS = 2
"""Prompts an extraction prefills in one pass while chats decode: a chat step then waits for a short
pass, not the burst of an ingest's first prompts (with no chat, all join at once: 1.2-1.4x faster)."""


class BackgroundExtractor:
    """The ``llm`` extractor decoding in a batch of its own, made for each ``extract`` call: on the
    hosted model, or (``dtype``) on a copy of it in that dtype, taken from the weights of that moment
    and dropped after the call.

    >>> BackgroundExtractor(engine.host, torch.bfloat16, LLMExtractorConfig(batch_size=16)).extract(passages)
    """

    name = LLMExtractor.name
    version = LLMExtractor.version
    """The merged rules' version: part of the extraction cache's key, as for ``LLMExtractor``."""

    def __init__(self, host: ModelHost, dtype: torch.dtype | None, config: LLMExtractorConfig, timeout: float = 300.0,
                 turns: Turns | None = None) -> None:
        self.host, self.dtype, self.config, self.timeout, self.turns = host, dtype, config, timeout, turns

    def extract(self, passages: list[str], progress: Progress | None = None) -> list[Extraction]:
        host = self.host
        if self.dtype is not None:
            with host.reading():
                model = copy_in(host.model, self.dtype)
            host = ModelHost(model, host.tokenizer, host.model_id, host.device)
        turns = self.turns
        decoder = Decoder(host, self.config.batch_size, self.config.batch_size, self.timeout,
                          turn=turns.background if turns else contextlib.nullcontext,
                          max_join=lambda: JOIN_WHILE_CHATS if turns and turns.foreground_working() else None)
        try:
            extractor = LLMExtractor(host.model, host.tokenizer, self.config, generate=decoder_generate(decoder))
            return extractor.extract(passages, progress)
        finally:
            decoder.close()
