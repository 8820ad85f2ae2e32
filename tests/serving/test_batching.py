"""Continuous batching: concurrent decodes share forward passes, joining and leaving between steps,
and each gives the pieces it gives decoded alone; weight changes never mix into an answer; the
queue bound refuses; a cancelled or timed-out request frees its slot."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import torch

from editing.gate import EditGate, GateConfig, WrittenFacts
from serving.core import batch as batch_module
from serving.core.decoding import Decoder, Generation
from serving.core.errors import OverloadedError
from serving.core.generation import Guidance, SamplingParams, decode_stream
from serving.core.model_host import ModelHost
from serving.core.turns import Turns
from tests.helpers.models import byte_tokenizer, record_forwards, tiny_llama

PROMPTS = [
    "the capital of france is",
    "rome",
    "the dog is in the city of paris and the cat is in rome the capital of italy",
    "a cat and a dog",
]
NAME = "model.layers.0.mlp.down_proj.weight"


@pytest.fixture
def host() -> Iterator[ModelHost]:
    """A byte-level tiny Llama with large weights: varied text (multi-byte characters too), unlike
    the default tiny model, which repeats its prompt's last word."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = tiny_llama(vocab_size=257, pad_token_id=None, eos_token_id=256, initializer_range=0.3)
    yield ModelHost(model, byte_tokenizer(), "tiny", torch.device("cpu"))
    torch.set_num_threads(threads)


def _ids(host: ModelHost, text: str) -> list[int]:
    return host.tokenizer(text, add_special_tokens=False)["input_ids"]


def _alone(host: ModelHost, text: str, params: SamplingParams) -> list[tuple]:
    return [(p.text, p.finish_reason, p.completion_tokens)
            for p in decode_stream(host.model, host.tokenizer, _ids(host, text), params)]


def _read(generation: Generation) -> list[tuple]:
    return [(p.text, p.finish_reason, p.completion_tokens) for p in generation]


def _rows_per_step(host: ModelHost, delay: float = 0.0) -> list[int]:
    """Records the batch rows of every forward pass (and optionally slows it)."""
    rows: list[int] = []
    forward = host.model.forward

    def recorded(*args, **kwargs):
        rows.append(int(kwargs["input_ids"].shape[0]))
        time.sleep(delay)
        return forward(*args, **kwargs)

    host.model.forward = recorded
    return rows


def _collect_all(generations: list[Generation]) -> list[list[tuple]]:
    results: list[list[tuple] | None] = [None] * len(generations)

    def read(i: int) -> None:
        results[i] = _read(generations[i])

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(generations))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_batched_greedy_equals_decoding_alone_with_joins_leaves_and_stop_strings(host):
    lengths = [40, 7, 25, 33]
    plain = [SamplingParams(n, 0.0) for n in lengths]
    # two characters first seen past the middle of each answer alone, so the stop strings cut late
    stops = []
    for text, params in zip(PROMPTS, plain):
        answer = "".join(p[0] for p in _alone(host, text, params))
        cuts = [k for k in range(len(answer) // 2, len(answer) - 1)
                if answer.find(answer[k:k + 2]) == k and "\ufffd" not in answer[k:k + 2]]
        stops.append([answer[cuts[0]:cuts[0] + 2]] if cuts else [])
    params = [SamplingParams(n, 0.0, stop=s) for n, s in zip(lengths, stops)]
    expected = [_alone(host, t, p) for t, p in zip(PROMPTS, params)]
    assert sum(e[-1][1] == "stop" for e in expected) >= 2, "the stop strings cut nothing: the test proves less"

    rows = _rows_per_step(host, delay=0.002)
    decoder = Decoder(host, max_batch=8)
    try:
        generations = [decoder.submit(_ids(host, PROMPTS[0]), params[0]), decoder.submit(_ids(host, PROMPTS[1]), params[1])]
        time.sleep(0.02)  # the others join a batch already decoding
        generations += [decoder.submit(_ids(host, t), p) for t, p in zip(PROMPTS[2:], params[2:])]
        assert _collect_all(generations) == expected
    finally:
        decoder.close()
    assert max(rows) >= 3, f"never more than {max(rows)} rows in a forward pass: nothing was batched"


def test_a_cache_that_outgrows_its_room_and_rows_that_leave_keep_decoding_as_alone(host, monkeypatch):
    monkeypatch.setattr(batch_module, "ROOM", 3)  # buffers fill up every few steps
    cases = [(t, SamplingParams(n, 0.0)) for t, n in zip(PROMPTS, [30, 5, 17, 11])]
    expected = [_alone(host, t, p) for t, p in cases]
    decoder = Decoder(host, max_batch=8)
    try:
        assert _collect_all([decoder.submit(_ids(host, t), p) for t, p in cases]) == expected
    finally:
        decoder.close()


def test_a_prefill_projects_only_each_prompts_last_position_onto_the_vocabulary(host):
    projected: list[int] = []
    hook = host.model.lm_head.register_forward_hook(lambda _m, args, _out: projected.append(args[0].shape[1]))
    prompts = [_ids(host, p) for p in PROMPTS[2:]]
    try:
        logits = batch_module.KVBatch(host.model).join(prompts)
    finally:
        hook.remove()
    assert projected == [1]
    with torch.no_grad():
        alone = [host.model(input_ids=torch.tensor([p])).logits[0, -1] for p in prompts]
    torch.testing.assert_close(logits, torch.stack(alone), rtol=1e-4, atol=1e-4)


def test_guided_copying_and_seeded_requests_in_a_batch_equal_decoding_alone(host):
    plain_ids = _ids(host, "cat dog")
    guided = SamplingParams(12, 0.0, guidance=Guidance(plain_ids, 5.0, 1e-6))
    seeded = SamplingParams(20, 0.9, top_p=0.9, seed=7)
    a = _ids(host, "a")[0]
    every_token_then_a = tuple(((token, a), 1) for token in range(len(host.tokenizer)))
    copying = SamplingParams(12, 0.0, guidance=Guidance(plain_ids, 2.0, copy_from=every_token_then_a, copy_min=1))
    cases = [(PROMPTS[0], guided), (PROMPTS[2], seeded), (PROMPTS[3], SamplingParams(15, 0.0)), (PROMPTS[1], copying)]
    expected = [_alone(host, t, p) for t, p in cases]
    assert "".join(p[0] for p in expected[-1]).endswith("a" * 11)  # copied after the first token
    decoder = Decoder(host, max_batch=8)
    try:
        assert _collect_all([decoder.submit(_ids(host, t), p) for t, p in cases]) == expected
    finally:
        decoder.close()


def test_a_weight_change_waits_for_the_answers_in_flight_and_never_mixes(host):
    """The rule: a request finishes on the weights it started with; one that arrives while a change
    waits starts on the new weights."""
    params = SamplingParams(30, 0.0)
    changed = host.base_value(NAME) + 0.5
    before = [_alone(host, t, params) for t in PROMPTS[:3]]
    original = host.base_value(NAME).clone()
    with torch.no_grad():
        dict(host.model.named_parameters())[NAME].copy_(changed)
    after = _alone(host, PROMPTS[3], params)
    with torch.no_grad():
        dict(host.model.named_parameters())[NAME].copy_(original)
    assert after != _alone(host, PROMPTS[3], params), "the change alters nothing: the test proves nothing"

    _rows_per_step(host, delay=0.01)
    decoder = Decoder(host, max_batch=8)
    try:
        streams = [iter(decoder.submit(_ids(host, t), params)) for t in PROMPTS[:3]]
        firsts = [next(s) for s in streams]  # all three are decoding
        writer = threading.Thread(target=host.set_parameters, kwargs={"values": {NAME: changed}}, daemon=True)
        writer.start()
        time.sleep(0.05)
        assert writer.is_alive()  # the change waits for the answers in flight
        late = decoder.submit(_ids(host, PROMPTS[3]), params)  # arrives while the change waits
        got = [[(f.text, f.finish_reason, f.completion_tokens)] + _read(s) for f, s in zip(firsts, streams)]
        writer.join(timeout=30)
        assert not writer.is_alive()
        assert got == before
        assert _read(late) == after
    finally:
        decoder.close()


def test_past_the_queue_bound_a_request_is_refused_with_retry_after(host):
    _rows_per_step(host, delay=0.02)
    decoder = Decoder(host, max_batch=1, max_queue=2, retry_after=3)
    try:
        running = iter(decoder.submit(_ids(host, PROMPTS[0]), SamplingParams(50, 0.0)))
        next(running)
        waiting = [decoder.submit(_ids(host, PROMPTS[1]), SamplingParams(3, 0.0)) for _ in range(2)]
        with pytest.raises(OverloadedError) as refused:
            decoder.submit(_ids(host, PROMPTS[1]), SamplingParams(3, 0.0))
        assert refused.value.retry_after == 3
        assert decoder.metrics.rejected.labels("queue_full")._value.get() == 1
        for generation in waiting:
            generation.cancel()
    finally:
        decoder.close()


def test_a_burst_takes_the_free_places_of_the_batch_before_the_queue_bound_counts(host):
    _rows_per_step(host, delay=0.05)
    decoder = Decoder(host, max_batch=3, max_queue=1)
    try:
        first = decoder.submit(_ids(host, PROMPTS[0]), SamplingParams(200, 0.0))
        next(iter(first))
        # two free places and one queue place, whether or not the scheduler admits them meanwhile
        burst = [decoder.submit(_ids(host, PROMPTS[1]), SamplingParams(200, 0.0)) for _ in range(3)]
        with pytest.raises(OverloadedError):
            decoder.submit(_ids(host, PROMPTS[1]), SamplingParams(3, 0.0))
        for generation in [first, *burst]:
            generation.cancel()
    finally:
        decoder.close()


def test_a_cancelled_request_frees_its_slot_within_a_step(host):
    rows = _rows_per_step(host, delay=0.02)
    decoder = Decoder(host, max_batch=1)
    try:
        first = decoder.submit(_ids(host, PROMPTS[0]), SamplingParams(200, 0.0))
        next(iter(first))
        second = decoder.submit(_ids(host, PROMPTS[1]), SamplingParams(3, 0.0))
        steps_at_cancel = len(rows)
        first.cancel()
        assert _read(second)[-1][2] == 3
        assert len(rows) - steps_at_cancel <= 1 + 3  # at most the step in flight, then the second's own
    finally:
        decoder.close()


def test_the_timeout_ends_a_decode_and_fails_a_request_that_waited_too_long(host):
    _rows_per_step(host, delay=0.02)
    decoder = Decoder(host, max_batch=1, timeout=0.3)
    try:
        long = decoder.submit(_ids(host, PROMPTS[0]), SamplingParams(500, 0.0))
        waiting = decoder.submit(_ids(host, PROMPTS[1]), SamplingParams(3, 0.0))
        pieces = _read(long)
        assert pieces[-1][1] == "length" and pieces[-1][2] < 100
        with pytest.raises(OverloadedError):
            _read(waiting)
    finally:
        decoder.close()


def test_rows_outside_the_edits_decode_as_the_unedited_model_in_a_batch(host):
    """A request with ``edits=False`` is decoded with every gated update taken out of its rows (and
    reuses only prefixes computed that way), beside requests that keep the edit."""
    long = PROMPTS[2]
    cases = [(long, False), (long + " and", True), (long + " so", False), (PROMPTS[0], True), (PROMPTS[0], False)]
    unedited = [_alone(host, t, SamplingParams(16, 0.0)) for t, _ in cases]
    torch.manual_seed(0)
    d_out, d_in = host.model.get_parameter(NAME).shape
    left, right, key = torch.randn(d_out, 1), torch.randn(1, d_in), torch.randn(d_in)
    with torch.no_grad():
        host.model.get_parameter(NAME).add_(left @ right)
    EditGate(host.model, GateConfig(low=0.0, high=0.01)).set([WrittenFacts({NAME: (left, right)}, {0: key.view(-1, 1)})])
    params = [SamplingParams(16, 0.0, edits=inside) for _, inside in cases]
    expected = [_alone(host, t, p) for (t, _), p in zip(cases, params)]
    assert [e for e, (_, inside) in zip(expected, cases) if not inside] == [u for u, (_, inside) in zip(unedited, cases) if not inside]
    assert [e for e, (_, inside) in zip(expected, cases) if inside] != [u for u, (_, inside) in zip(unedited, cases) if inside], \
        "the gated edit changes no answer: the test proves less"
    decoder = Decoder(host, max_batch=8)
    try:
        assert _collect_all([decoder.submit(_ids(host, t), p) for (t, _), p in zip(cases, params)]) == expected
    finally:
        decoder.close()


def test_two_decoders_taking_turns_never_run_forward_passes_at_once(host):
    """The chat's batch and an extraction's batch on the same cores: one forward pass at a time."""
    passes: list[tuple[float, float]] = []
    forward = host.model.forward

    def timed(*args, **kwargs):
        started = time.perf_counter()
        time.sleep(0.005)
        out = forward(*args, **kwargs)
        passes.append((started, time.perf_counter()))
        return out

    host.model.forward = timed
    turns = Turns()
    chat, extraction = Decoder(host, turn=turns.foreground), Decoder(host, turn=turns.background)
    try:
        params = SamplingParams(20, 0.0)
        generations = [d.submit(_ids(host, t), params) for t in PROMPTS for d in (chat, extraction)]
        assert all(_collect_all(generations))
    finally:
        chat.close()
        extraction.close()
    passes.sort()
    assert len(passes) > 20
    assert all(end <= next_start for (_, end), (next_start, _) in zip(passes, passes[1:]))


def test_a_waiting_foreground_pass_goes_before_any_background_one():
    turns, order = Turns(), []
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with turns.background():
            holding.set()
            release.wait(5)

    def take(turn, name: str) -> None:
        with turn():
            order.append(name)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    background = threading.Thread(target=take, args=(turns.background, "background"))
    background.start()
    time.sleep(0.05)  # the background pass waits first
    foreground = threading.Thread(target=take, args=(turns.foreground, "foreground"))
    foreground.start()
    time.sleep(0.05)
    release.set()
    for t in (holder, background, foreground):
        t.join(5)
    assert order == ["foreground", "background"]


def _passes(turn, stop: threading.Event, seconds: float, spans: list[tuple[float, float]]) -> None:
    """Forward passes of ``seconds`` each, back to back until ``stop``; their (start, end)."""
    while not stop.is_set():
        with turn():
            started = time.monotonic()
            time.sleep(seconds)
            spans.append((started, time.monotonic()))


def test_while_the_foreground_works_the_background_takes_its_share_and_all_the_time_when_it_rests():
    turns, stop = Turns(share=0.25), threading.Event()
    chat, extraction = [], []
    threads = [threading.Thread(target=_passes, args=(turns.foreground, stop, 0.01, chat)),
               threading.Thread(target=_passes, args=(turns.background, stop, 0.01, extraction))]
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(5)
    busy = sum(end - start for start, end in extraction) / (time.monotonic() - started)
    assert chat and 0.1 < busy < 0.35  # strict turns would give the background half
    stop.clear()
    alone: list[tuple[float, float]] = []
    thread = threading.Thread(target=_passes, args=(turns.background, stop, 0.01, alone))
    thread.start()
    time.sleep(0.5)
    stop.set()
    thread.join(5)
    assert sum(end - start for start, end in alone) > 0.35  # the foreground rests


def test_max_join_prefills_a_burst_a_few_prompts_at_a_time_with_the_answers_of_alone(host):
    params = SamplingParams(8, 0.0)
    alone = [_alone(host, t, params) for t in PROMPTS]
    shapes = record_forwards(host.model, delay=0.02)
    decoder = Decoder(host, max_batch=4, max_join=lambda: 1)
    try:
        first = iter(decoder.submit(_ids(host, PROMPTS[0]), params))
        head = next(first)
        burst = [decoder.submit(_ids(host, t), params) for t in PROMPTS[1:]]  # all wait during a step
        got = [[(head.text, head.finish_reason, head.completion_tokens)] + _read(first), *_collect_all(burst)]
    finally:
        decoder.close()
    assert got == alone
    prefills = [rows for rows, width in shapes if width > 1]
    assert len(prefills) >= len(PROMPTS) and set(prefills) == {1}


def test_the_foreground_works_while_a_pass_runs_or_waits_and_rests_after_rest_seconds():
    turns = Turns(rest=0.1)
    assert not turns.foreground_working()
    with turns.foreground():
        assert turns.foreground_working()
    assert turns.foreground_working()
    time.sleep(0.15)
    assert not turns.foreground_working()
