"""Free-generation scoring (`editing.evaluate.free_scores`) on the tiny Llama: a hit names the
target within the first 10 generated tokens, not later, not in the prompt."""

import torch

from editing.evaluate import FREE_TOKENS, Case, free_scores, mean_scores, names_target, score
from editing.fluency import greedy_ids, n_gram_entropy
from editing.request import EditRequest
from tests.helpers.models import tiny_llama, tiny_tokenizer

PROMPT, REPHRASE = "the capital of france is", "a dog is in the"


def _case(target: str) -> Case:
    return Case(EditRequest(PROMPT, "france", target, "paris"), REPHRASE, "rome is the capital of", "italy")


def test_a_hit_names_the_target_within_the_first_tokens_only():
    torch.set_num_threads(1)
    model, tok = tiny_llama(initializer_range=1.0), tiny_tokenizer()
    ids = greedy_ids(model, tok, [PROMPT], 32)[0]
    early = set(tok.decode(ids[:FREE_TOKENS], skip_special_tokens=True).split())
    late = set(tok.decode(ids[FREE_TOKENS:], skip_special_tokens=True).split()) - early
    rephrased = set(tok.decode(greedy_ids(model, tok, [REPHRASE], 32)[0][:FREE_TOKENS], skip_special_tokens=True).split())
    never = sorted(set(tok.get_vocab()) - early - late - rephrased - {"<unk>", "<pad>", "<eos>"} - set(PROMPT.split()))
    assert early and late and never, "the tiny model's continuation must hold words early and late"

    hit = free_scores(model, tok, _case(sorted(early)[0]))
    assert hit["free_efficacy"] and hit["free_generalization"] == (sorted(early)[0] in rephrased)
    assert not free_scores(model, tok, _case(sorted(late)[0]))["free_efficacy"]  # named, but after 10 tokens
    missed = free_scores(model, tok, _case(never[0]))
    assert not missed["free_efficacy"] and not missed["free_generalization"]
    assert missed["fluency"] == hit["fluency"] > 0  # the same continuations, whatever the target

    rows = [score(model, tok, _case(sorted(early)[0]), free=True), score(model, tok, _case(never[0]), free=True)]
    means = mean_scores(rows)
    assert means["free_efficacy"] == 50.0 and means["fluency"] == round(rows[0]["fluency"], 2)


def test_names_target_ignores_case_and_spacing():
    assert names_target(" The answer is  New   York City", "new york")
    assert not names_target("Newark", "new york")
    assert not names_target("Romeo and Juliet", "Rome") and names_target("Rome.", "rome")
    assert n_gram_entropy("") == 0.0
