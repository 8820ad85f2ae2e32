"""Extraction at ingest through the continuous batch: the hosted model's OpenIE prompts decode as
rows of ``engine.decoder``, next to chat requests.

    LLMExtractor(model, tokenizer, config, generate=decoder_generate(engine.decoder))

Each passage in flight asks for its entity answer, then its triple answer; a row leaves the batch as
soon as its answer ends and the next prompt joins at the following step, so the batch stays full of
live rows instead of padding finished ones until the longest answer ends (``model.generate``).
The decoder holds the model's read lock while it decodes; the extractor's threads hold nothing.
"""

from __future__ import annotations

import time

from memory.openie import Generate

from serving.core.decoding import Decoder
from serving.core.errors import OverloadedError
from serving.core.generation import SamplingParams


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
