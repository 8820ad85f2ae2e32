"""Extraction at ingest through the continuous batch: the hosted model's OpenIE prompts decode as
rows of ``engine.decoder``, next to chat requests.

    LLMExtractor(model, tokenizer, config, generate=decoder_generate(engine.decoder))

Each passage in flight asks for its entity answer, then its triple answer; a row leaves the batch as
soon as its answer ends and the next prompt joins at the following step, so the batch stays full of
live rows instead of padding finished ones until the longest answer ends (``model.generate``).
The decoder holds the model's read lock while it decodes; the extractor's threads hold nothing.

Where the model is in float32 and the device multiplies bfloat16 natively, :class:`CopyExtractor`
instead decodes each ingest's prompts on a bfloat16 copy of the weights of that moment, in a batch of
its own (``extract_dtype``): the copy is taken under the read lock, so it never holds half a change,
and a change that lands during the ingest does not wait for it.
"""

from __future__ import annotations

import time

import torch

from editing.precision import copy_in
from memory.extract import Extraction, Progress
from memory.openie import Generate, LLMExtractor, LLMExtractorConfig

from serving.core.decoding import Decoder
from serving.core.errors import OverloadedError
from serving.core.generation import SamplingParams
from serving.core.model_host import ModelHost


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


class CopyExtractor:
    """The ``llm`` extractor decoding on a copy of the hosted model in ``dtype``, made anew for each
    ``extract`` call from the weights of that moment and dropped after it.

    >>> CopyExtractor(engine.host, torch.bfloat16, LLMExtractorConfig(batch_size=16)).extract(passages)
    """

    name = LLMExtractor.name
    version = LLMExtractor.version
    """The merged rules' version: part of the extraction cache's key, as for ``LLMExtractor``."""

    def __init__(self, host: ModelHost, dtype: torch.dtype, config: LLMExtractorConfig, timeout: float = 300.0) -> None:
        self.host, self.dtype, self.config, self.timeout = host, dtype, config, timeout

    def extract(self, passages: list[str], progress: Progress | None = None) -> list[Extraction]:
        with self.host.reading():
            model = copy_in(self.host.model, self.dtype)
        copied = ModelHost(model, self.host.tokenizer, self.host.model_id, self.host.device)
        decoder = Decoder(copied, self.config.batch_size, self.config.batch_size, self.timeout)
        try:
            extractor = LLMExtractor(model, copied.tokenizer, self.config, generate=decoder_generate(decoder))
            return extractor.extract(passages, progress)
        finally:
            decoder.close()
