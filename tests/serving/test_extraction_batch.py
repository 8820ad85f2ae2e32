"""Extraction at ingest through the continuous batch (issue 18): the same answers and extractions as
one passage at a time through ``model.generate``; rows leave when their answer ends and the next
prompt joins mid-batch; a shared prompt prefix is prefilled once and changes no row's logits; with
``extract_dtype`` bfloat16 the prompts decode on a copy of the model, which stays as it was; either
way in a batch of its own, whose passes take the turns the chat's batch leaves."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
import torch

from memory.openie import Generate, LLMExtractor, LLMExtractorConfig
from serving.core.batch import KVBatch
from serving.core.decoding import Decoder
from serving.core.engine import Engine
from serving.core.model_host import ModelHost
from serving.core.settings import Settings
from serving.core.turns import Turns
from serving.services.extraction import BackgroundExtractor, decoder_generate
from serving.services.memory import llm_extractor
from tests.helpers.engine import assert_bit_identical, snapshot
from tests.helpers.models import byte_tokenizer, record_forwards, tiny_llama

PASSAGES = [
    "Rome is the capital of Italy.",
    "Ada Lind lives in Orvik, a city in Telmar. She met Bo Ek in 1911.",
    "Orvik",
    "The Kestrel Line carries slate from Tollbury to Westhaven.",
    "Mara Quent built it.",
]
BUDGETS = dict(max_new_tokens_ner=4, max_new_tokens_triples=16)


@pytest.fixture
def host() -> Iterator[ModelHost]:
    """A byte-level tiny Llama (varied answers) with a chat template and room for the few-shot prompts."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = tiny_llama(vocab_size=257, pad_token_id=None, eos_token_id=256, initializer_range=0.3,
                       max_position_embeddings=2048)
    tokenizer = byte_tokenizer()
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    yield ModelHost(model, tokenizer, "tiny", torch.device("cpu"))
    torch.set_num_threads(threads)


def _alone(host: ModelHost) -> Generate:
    """Greedy ``model.generate`` on one prompt, as the padded path runs it with batch_size=1."""
    def generate(text: str, max_new_tokens: int) -> str:
        ids = host.tokenizer(text, return_tensors="pt").input_ids
        out = host.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                  do_sample=False, pad_token_id=256)
        return host.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    return generate


def _recorded(generate: Generate, answers: dict[str, str]) -> Generate:
    lock = threading.Lock()

    def recording(text: str, max_new_tokens: int) -> str:
        answer = generate(text, max_new_tokens)
        with lock:
            answers[text] = answer
        return answer
    return recording


def _decoders() -> int:
    """Scheduler threads of live decoders."""
    return sum(t.name == "palimpsest-batch" for t in threading.enumerate())


def test_batched_extraction_gives_the_answers_and_extractions_of_one_at_a_time(host: ModelHost) -> None:
    alone, batched = {}, {}
    reference = LLMExtractor(host.model, host.tokenizer, LLMExtractorConfig(batch_size=1, **BUDGETS),
                             generate=_recorded(_alone(host), alone))
    expected = reference.extract(PASSAGES)
    padded = LLMExtractor(host.model, host.tokenizer, LLMExtractorConfig(batch_size=1, **BUDGETS)).extract(PASSAGES)
    assert padded == expected
    decoder = Decoder(host, max_batch=3)
    calls = record_forwards(host.model)
    progress: list[int] = []
    try:
        extractor = LLMExtractor(host.model, host.tokenizer, LLMExtractorConfig(batch_size=3, **BUDGETS),
                                 generate=_recorded(decoder_generate(decoder), batched))
        assert extractor.extract(PASSAGES, progress=progress.append) == expected
    finally:
        decoder.close()
    assert batched == alone and len(alone) == 2 * len(PASSAGES)
    assert len(set(alone.values())) > 1  # answers that differ: the comparison can fail
    assert progress == list(range(1, len(PASSAGES) + 1))
    assert max(rows for rows, _ in calls) <= 3
    first_step = next(i for i, (_, width) in enumerate(calls) if width == 1)
    assert any(width > 1 for _, width in calls[first_step:]), "no prompt joined while others were decoding"


def test_rows_leave_when_their_answer_ends_and_waiting_prompts_join(host: ModelHost) -> None:
    decoder = Decoder(host, max_batch=2)
    calls = record_forwards(host.model)
    generate = decoder_generate(decoder)
    try:
        results: dict[int, str] = {}
        threads = [threading.Thread(target=lambda i=i, n=n: results.__setitem__(i, generate(f"prompt {i}", n)))
                   for i, n in enumerate([2, 12, 2, 2])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        decoder.close()
    steps = [rows for rows, width in calls if width == 1]
    assert len(steps) < 2 + 12 + 2 + 2 - 4  # rows shared steps: fewer than the answers' tokens one at a time
    assert max(steps) == 2 and len(results) == 4
    assert sum(rows for rows, _ in calls) <= 2 * 12 + 4  # finished rows left instead of padding to the longest


def test_a_shared_prefix_is_prefilled_once_and_changes_no_row(host: ModelHost) -> None:
    head = "system: a long shared instruction that every prompt of this kind starts with\nuser: "
    prompts = [host.tokenizer(head + tail).input_ids for tail in ["rome", "the capital of france", "x"]]
    alone = []
    for prompt in prompts:
        batch = KVBatch(host.model)
        alone.append((batch.join([prompt])[0], batch.step([5])[0]))
    batch = KVBatch(host.model)
    assert torch.allclose(batch.join(prompts[:1])[0], alone[0][0], atol=1e-5)
    batch.step([7])
    calls = record_forwards(host.model)
    joined = batch.join(prompts[1:])
    assert calls == [(1, len(head)), (2, len("the capital of france"))]  # the prefix once, then the suffixes
    for got, (want, _) in zip(joined, alone[1:]):
        assert torch.allclose(got, want, atol=1e-5)
    batch.keep([2, 1])
    stepped = batch.step([5, 5])
    assert torch.allclose(stepped[0], alone[2][1], atol=1e-5)
    assert torch.allclose(stepped[1], alone[1][1], atol=1e-5)


def test_a_copy_extractor_decodes_on_a_bfloat16_copy_and_leaves_the_hosted_model_as_it_was(host: ModelHost) -> None:
    dtypes: list[torch.dtype] = []
    hook = host.model.lm_head.register_forward_hook(lambda _m, args, _out: dtypes.append(args[0].dtype))
    before, threads = snapshot(host.model), _decoders()
    progress: list[int] = []
    try:
        extractor = BackgroundExtractor(host, torch.bfloat16, LLMExtractorConfig(batch_size=3, **BUDGETS))
        found = extractor.extract(PASSAGES, progress=progress.append)
    finally:
        hook.remove()
    assert len(found) == len(PASSAGES) and progress == list(range(1, len(PASSAGES) + 1))
    assert dtypes and set(dtypes) == {torch.bfloat16}  # the hook was copied with the model; the copy ran
    assert_bit_identical(snapshot(host.model), before)
    deadline = time.monotonic() + 10
    while _decoders() > threads and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _decoders() == threads  # its decoder was closed and its thread ended


def test_a_background_extractor_without_a_dtype_decodes_on_the_hosted_model_as_one_at_a_time(host: ModelHost):
    expected = LLMExtractor(host.model, host.tokenizer, LLMExtractorConfig(batch_size=1, **BUDGETS),
                            generate=_alone(host)).extract(PASSAGES)

    class Counted(Turns):
        taken = 0

        @contextlib.contextmanager
        def background(self):
            with super().background():
                self.taken += 1
                yield

    turns = Counted()
    found = BackgroundExtractor(host, None, LLMExtractorConfig(batch_size=3, **BUDGETS), turns=turns).extract(PASSAGES)
    assert found == expected
    assert turns.taken > len(PASSAGES)  # every prefill and step took its turn


@pytest.mark.parametrize(("choice", "dtype"), [("bfloat16", torch.bfloat16), ("float32", None)])
def test_the_extract_dtype_setting_picks_a_copy_or_the_model_in_a_batch_behind_the_chats(
        host: ModelHost, tmp_path, choice, dtype) -> None:
    engine = Engine(Settings(home=tmp_path, guard=False, extract_dtype=choice), host)
    try:
        extractor = llm_extractor(engine)
        assert isinstance(extractor, BackgroundExtractor) and extractor.dtype == dtype
        assert extractor.turns is engine.turns
    finally:
        engine.close()
