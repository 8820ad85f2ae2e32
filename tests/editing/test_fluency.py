"""n-gram entropy, greedy generation and perplexity (`editing.fluency`) on the tiny Llama."""

import pytest
import torch

from editing.fluency import fluency_scores, greedy, greedy_ids, mean_entropy, n_gram_entropy, perplexity, repeats
from tests.helpers.models import tiny_llama, tiny_tokenizer


def test_entropy_is_lower_for_text_that_repeats_itself():
    varied = "the cat sat on a mat while the dog ran to the park and a bird sang in the tree"
    looping = "the cat sat on the cat sat on the cat sat on the cat sat on the cat sat on the"
    assert n_gram_entropy(varied) > n_gram_entropy(looping) > 0
    assert n_gram_entropy("same same same same same same") == 0.0
    assert n_gram_entropy("one") == 0.0  # too short for any bigram
    # Bigrams weighted 2/3, trigrams 4/3: four distinct words give 2 and log2(3) ... averaged.
    assert n_gram_entropy("a b c d") == pytest.approx((2 / 3 * 1.5849625 + 4 / 3 * 1.0) / 2, rel=1e-6)
    assert mean_entropy([varied, looping]) == pytest.approx((n_gram_entropy(varied) + n_gram_entropy(looping)) / 2)


def test_repeats_flags_a_collapsed_answer_and_not_a_short_or_plain_one():
    assert repeats("Dave L. Lawrence, widely known as actor actor actor actor actor actor actor actor actor actor")
    assert not repeats("David L. Lawrence is a renowned astrophysicist and cosmologist who has dedicated his "
                       "career to understanding the mysteries of the")
    assert not repeats("Paris, in France.")  # low entropy by its length alone


def test_greedy_batches_prompts_of_different_lengths_like_one_at_a_time():
    torch.set_num_threads(1)
    model, tok = tiny_llama(), tiny_tokenizer()
    prompts = ["the capital of france is", "the cat"]
    together = greedy(model, tok, prompts, 6)
    alone = [greedy(model, tok, [p], 6)[0] for p in prompts]
    assert together == alone and all(together)


def test_a_model_that_outputs_one_token_scores_zero_entropy():
    model, tok = tiny_llama(initializer_range=1.0), tiny_tokenizer()  # large weights: varied generations
    base = fluency_scores(model, tok, ("the cat is", "paris is the"), 12)
    assert base["entropy"] > 0 and base["perplexity"] > 1
    with torch.no_grad():
        model.model.norm.weight.zero_()  # every logit 0: argmax is token 0 (<unk>) everywhere
    broken = fluency_scores(model, tok, ("the cat is", "paris is the"), 12)
    assert broken["entropy"] == 0.0
    assert perplexity(model, tok, "the cat is in paris") == pytest.approx(64.0, rel=1e-4)  # uniform over 64 ids


class _Passes:
    """Counts the model's forward passes."""

    def __init__(self, model) -> None:
        self.n = 0
        model.register_forward_pre_hook(lambda *_: setattr(self, "n", self.n + 1))


def test_a_draft_the_model_still_picks_costs_one_pass_and_decoding_resumes_after_its_first_miss():
    model, tok = tiny_llama(initializer_range=1.0), tiny_tokenizer()
    prompts = ["the capital of france is", "the cat"]
    first = greedy_ids(model, tok, prompts, 8)
    passes = _Passes(model)
    assert greedy_ids(model, tok, prompts, 8, draft=first) == first and passes.n == 1
    wrong = [row[:] for row in first]
    wrong[1][3] = (wrong[1][3] + 1) % 64
    passes.n = 0
    assert greedy_ids(model, tok, prompts, 8, draft=wrong) == first
    assert passes.n == 1 + 4  # the check, then 4 new tokens: 3 checked and the model's pick at the miss
    wrong[0][0] = (wrong[0][0] + 1) % 64
    passes.n = 0
    assert greedy_ids(model, tok, prompts, 8, draft=wrong) == first and passes.n == 1 + 7
    with torch.no_grad():
        model.model.norm.weight.mul_(-1.0)  # other weights, other continuations
    moved = greedy_ids(model, tok, prompts, 8)
    assert moved != first and greedy_ids(model, tok, prompts, 8, draft=first) == moved


def test_a_draft_row_that_ended_early_is_checked_up_to_its_end():
    model, tok = tiny_llama(initializer_range=1.0), tiny_tokenizer()
    prompts = ["the capital of france is", "the cat"]
    model.generation_config.eos_token_id = greedy_ids(model, tok, prompts, 8)[0][2]  # row 0 ends at its 3rd token
    ended = greedy_ids(model, tok, prompts, 8)
    assert ended[0][3:] == [tok.pad_token_id] * (len(ended[0]) - 3)  # generate pads after the end
    passes = _Passes(model)
    assert greedy_ids(model, tok, prompts, 8, draft=ended) == ended and passes.n == 1
    wrong = [row[:] for row in ended]
    wrong[1][5] = (wrong[1][5] + 1) % 64  # after row 0's end: decoding resumes, row 0 stays ended
    assert greedy_ids(model, tok, prompts, 8, draft=wrong) == ended
