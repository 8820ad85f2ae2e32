"""The decode workers: the same pieces as decoding in place, for sync and async readers; a reader
that leaves stops the decode; an error reaches the reader; a waiting weight change never stalls a
stream in flight."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
import torch

from serving.core.decoding import Decoder
from serving.core.errors import UnavailableError
from serving.core.generation import SamplingParams, decode_stream
from serving.core.model_host import ModelHost
from tests.helpers.models import tiny_tokenizer

PROMPT = "the capital of france is"


@pytest.fixture
def host(tiny_llama) -> Iterator[ModelHost]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield ModelHost(tiny_llama, tiny_tokenizer(), "tiny", torch.device("cpu"))
    torch.set_num_threads(threads)


@pytest.fixture
def decoder(host) -> Iterator[Decoder]:
    decoder = Decoder(host, max_batch=2)
    yield decoder
    decoder.close()


def _ids(host: ModelHost) -> list[int]:
    return host.tokenizer(PROMPT, add_special_tokens=False)["input_ids"]


def _count_steps(host: ModelHost, delay: float = 0.0) -> list[int]:
    """Counts (and optionally slows) the model's forward passes."""
    steps = [0]
    forward = host.model.forward

    def counted(*args, **kwargs):
        steps[0] += 1
        time.sleep(delay)
        return forward(*args, **kwargs)

    host.model.forward = counted
    return steps


def test_pieces_match_decoding_in_place_for_sync_and_async_readers(host, decoder):
    params = SamplingParams(40, 0.0, stop=["capital"])
    expected = [(p.text, p.finish_reason, p.completion_tokens)
                for p in decode_stream(host.model, host.tokenizer, _ids(host), params)]

    async def read_async() -> list:
        return [(p.text, p.finish_reason, p.completion_tokens) async for p in decoder.submit(_ids(host), params)]

    assert [(p.text, p.finish_reason, p.completion_tokens) for p in decoder.submit(_ids(host), params)] == expected
    assert asyncio.run(read_async()) == expected


@pytest.mark.parametrize("reader", ["sync", "async"])
def test_a_reader_that_leaves_stops_the_decode(host, decoder, reader):
    steps = _count_steps(host, delay=0.01)
    generation = decoder.submit(_ids(host), SamplingParams(100, 0.0))
    if reader == "sync":
        for _ in generation:
            break
    else:
        async def first() -> None:
            async for _ in generation:
                break
        asyncio.run(first())
    assert generation.cancelled
    time.sleep(0.3)
    stopped_at = steps[0]
    time.sleep(0.3)
    assert steps[0] == stopped_at < 50


def test_an_error_while_decoding_reaches_the_reader(host, decoder):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    host.model.forward = broken
    with pytest.raises(RuntimeError, match="out of memory"):
        list(decoder.submit(_ids(host), SamplingParams(4, 0.0)))


def test_a_waiting_weight_change_does_not_stall_a_stream_in_flight(host, decoder):
    _count_steps(host, delay=0.005)
    name = "model.layers.0.mlp.down_proj.weight"
    stream = iter(decoder.submit(_ids(host), SamplingParams(60, 0.0)))
    next(stream)  # the first piece: the worker holds the read lock
    writer = threading.Thread(target=host.set_parameters,
                              kwargs={"values": {name: host.base_value(name) + 1.0}}, daemon=True)
    writer.start()
    time.sleep(0.05)
    assert writer.is_alive()  # the change waits for the stream
    later = decoder.submit(_ids(host), SamplingParams(4, 0.0))  # blocks behind the waiting change
    assert list(stream)[-1].completion_tokens == 60  # yet the stream runs to its end
    writer.join(timeout=30)
    assert not writer.is_alive()
    assert list(later)[-1].completion_tokens == 4


def test_close_returns_once_no_step_is_running(host, decoder):
    started, finished = [0], [0]
    forward = host.model.forward

    def slow(*args, **kwargs):
        started[0] += 1
        time.sleep(0.2)
        out = forward(*args, **kwargs)
        finished[0] += 1
        return out

    host.model.forward = slow
    stream = iter(decoder.submit(_ids(host), SamplingParams(100, 0.0)))
    next(stream)
    time.sleep(0.1)  # the next step is in its forward pass
    decoder.close()
    assert started[0] == finished[0] < 10
    with pytest.raises(UnavailableError):
        list(stream)
