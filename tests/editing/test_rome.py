import copy
from dataclasses import replace

import pytest
import torch

from editing.arch import edit_site, module, weight_matrix
from editing.config import ContextConfig, RomeConfig
from editing.contexts import context_groups
from editing.hooks import capture, linear_deltas
from editing.probe import answer_probs
from editing.request import (
    EditRequest,
    EmptyTargetError,
    SubjectNotInPromptError,
    UnknownLayerError,
    UnsupportedModelError,
    encode_echo,
    target_ids,
)
from editing.rome import rank_one_update, rome_edit
from editing.value import _Bucket, _Problem, _Row, encode_groups, key_and_output
from tests.helpers.models import tiny_llama, tiny_tokenizer

REQ = EditRequest("The Eiffel Tower is located in the city of", "The Eiffel Tower", "Rome", "Paris")
# Random tiny models have small activations: loosen the norm clamp so the edit can take hold.
CFG = RomeConfig(layer=1, steps=30, clamp_norm_factor=1e3, weight_decay=0.0, contexts=ContextConfig(lengths=(3, 5), per_length=2))


def _params(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _system(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random well-conditioned C (16 x 16), a key k and a residual r."""
    torch.manual_seed(seed)
    a = torch.randn(16, 16)
    return a @ a.t() + 0.1 * torch.eye(16), torch.randn(16), torch.randn(8)


def test_rank_one_update_maps_key_to_value_and_spares_c_orthogonal_keys():
    cov, k, r = _system(1)
    dw = rank_one_update(k, r, cov)
    assert torch.allclose(dw @ k, r, atol=1e-4)
    u = torch.linalg.solve(cov, k)
    other = torch.randn(16)
    other = other - (other @ u) / (u @ k) * k  # u^T other = 0
    assert torch.allclose(dw @ other, torch.zeros(8), atol=1e-4)
    assert torch.allclose(rank_one_update(k, r) @ k, r, atol=1e-4)


def test_rome_delta_writes_v_star_and_leaves_model_untouched(any_model, byte_tokenizer):
    before = _params(any_model)
    result = rome_edit(any_model, byte_tokenizer, REQ, CFG)
    after = _params(any_model)
    assert all(torch.equal(before[n], after[n]) for n in before)

    site = edit_site(any_model, 1)
    assert list(result.delta) == [site.param_name]
    assert result.delta[site.param_name].shape == any_model.get_parameter(site.param_name).shape
    assert result.delta[site.param_name].dtype == torch.float32

    # W' k* = v*: with the delta active, the mean output over the contexts is exactly v*.
    encoded = encode_groups(byte_tokenizer, REQ, context_groups(any_model, byte_tokenizer, CFG.contexts))
    dw = result.delta[site.param_name]
    dw = dw.t() if site.transposed else dw
    with linear_deltas(any_model, {site.module_name: dw}):
        k_star, v_new = key_and_output(any_model, site, encoded)
    assert torch.allclose(k_star, result.keys[1][:, 0], atol=1e-5)
    assert torch.allclose(v_new, result.values[1][:, 0], atol=1e-3)
    assert torch.allclose(weight_matrix(any_model, site) @ k_star + dw @ k_star, result.values[1][:, 0], atol=1e-3)


def test_edit_raises_target_probability_and_revert_is_exact(llama, byte_tokenizer):
    base = _params(llama)
    p0 = answer_probs(llama, byte_tokenizer, REQ.prompt, "Rome", "Paris")
    logits0 = llama(torch.tensor([[1, 2, 3, 4]])).logits
    result = rome_edit(llama, byte_tokenizer, REQ, CFG)
    name, delta = next(iter(result.delta.items()))
    with torch.no_grad():
        llama.get_parameter(name).copy_(base[name] + delta)  # as the host applies it
    p1 = answer_probs(llama, byte_tokenizer, REQ.prompt, "Rome", "Paris")
    assert p1["p_new"] > 1.5 * p0["p_new"]  # a random tiny model moves little; the real one is tested end to end
    with torch.no_grad():
        llama.get_parameter(name).copy_(base[name])  # revert: base + no deltas
    assert torch.equal(llama(torch.tensor([[1, 2, 3, 4]])).logits, logits0)


def test_covariance_changes_the_update_direction(llama, byte_tokenizer):
    torch.manual_seed(2)
    a = torch.randn(64, 64)
    cov = a @ a.t() / 64 + 0.1 * torch.eye(64)
    with_c = rome_edit(llama, byte_tokenizer, REQ, CFG, covariance=cov)
    without = rome_edit(llama, byte_tokenizer, REQ, RomeConfig(**{**CFG.__dict__, "use_covariance": False}), cov)
    name = next(iter(with_c.delta))
    assert not torch.allclose(with_c.delta[name], without.delta[name])
    assert with_c.diagnostics["covariance"] and not without.diagnostics["covariance"]


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(prompt="Paris is nice", subject="Rome", target_new="x"), SubjectNotInPromptError),
        (dict(prompt="Paris is nice", subject="", target_new="x"), SubjectNotInPromptError),
        (dict(prompt="Paris is in", subject="Paris", target_new="  "), EmptyTargetError),
        (dict(prompt="Paris is in", subject="Paris", target_new="x", target_true=""), EmptyTargetError),
    ],
)
def test_bad_requests_raise_typed_errors(kwargs, error):
    with pytest.raises(error):
        EditRequest(**kwargs)


def test_unknown_layer_and_unsupported_model_raise_and_touch_nothing(llama, byte_tokenizer):
    before = _params(llama)
    with pytest.raises(UnknownLayerError):
        rome_edit(llama, byte_tokenizer, REQ, RomeConfig(layer=99))
    with pytest.raises(UnsupportedModelError):
        edit_site(_NoMlp(), 0)
    assert all(torch.equal(before[n], p) for n, p in llama.named_parameters())


class _NoMlp(torch.nn.Module):
    class config:  # noqa: N801 - mimics a transformers config
        num_hidden_layers = 2


def test_plain_context_nll_leaves_out_the_chat_row(llama, byte_tokenizer):
    """What `RomeConfig.stop_on_chat=False` stops on: the chat row stays in the loss only."""
    chat_tok = copy.deepcopy(byte_tokenizer)
    chat_tok.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>"
    groups = context_groups(llama, byte_tokenizer, CFG.contexts)
    site = edit_site(llama, 1)
    target = target_ids(byte_tokenizer, REQ.target_new)
    delta = torch.zeros(1, llama.config.hidden_size)
    measured = {}
    for name, tok, chat in (("plain", byte_tokenizer, False), ("chat", chat_tok, True)):
        encoded = encode_groups(tok, REQ, groups, chat=chat)
        assert (encoded[-1][0].target is not None) == chat
        with torch.no_grad():
            measured[name] = _Problem(llama, tok, [REQ], [encoded], [target]).losses(llama, site, delta)
    nll_plain_only, stop_plain_only, _, _ = measured["plain"]
    nll_with_chat, stop_with_chat, _, _ = measured["chat"]
    assert torch.allclose(stop_with_chat, stop_plain_only) and torch.allclose(stop_plain_only, nll_plain_only)
    assert not torch.allclose(nll_with_chat, nll_plain_only)  # the chat row is in the loss


def _chat_tokenizer(byte_tokenizer):
    chat_tok = copy.deepcopy(byte_tokenizer)
    chat_tok.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>"
    return chat_tok


def test_echo_reply_repeats_the_prompt_and_marks_the_reply_subject(byte_tokenizer):
    tok = _chat_tokenizer(byte_tokenizer)
    row = encode_echo(tok, REQ)
    (at,) = row.also
    assert row.rest[at] == row.head[-1]  # the subject's last token, in the reply
    assert tok.decode(row.rest[: at + 1]).endswith("<assistant>" + REQ.before + REQ.subject)
    assert tok.decode(row.rest[at + 1 :]) == REQ.after and row.target == target_ids(tok, REQ.target_new)
    groups = [[[]]]
    replies = {r: encode_groups(tok, REQ, groups, chat=True, reply=r)[-1] for r in ("target", "echo", "both")}
    assert [r.also for r in replies["both"]] == [(), row.also] and replies["echo"] == [row]
    assert replies["target"][0].target == tok.encode(REQ.target_new, add_special_tokens=False)


def test_the_delta_is_added_at_the_reply_subject_too(llama, byte_tokenizer):
    """Past the edit layer, the residual changes at the prompt's subject and at the reply's."""
    tok = _chat_tokenizer(byte_tokenizer)
    row = encode_echo(tok, REQ)
    bucket = _Bucket(llama, [_Row(0, row.head, row.rest + row.target[:-1], row.target, len(row.rest),
                                  tuple(i + 1 for i in row.also))])
    site = edit_site(llama, 1)
    hidden = []
    for delta in (torch.zeros(1, llama.config.hidden_size), torch.ones(1, llama.config.hidden_size)):
        with torch.no_grad(), capture(llama.model.layers[2]) as cap:
            bucket.forward(llama, site, delta)
        hidden.append(cap.inputs[0][0])
    changed = (hidden[1] - hidden[0]).abs().amax(-1) > 1e-4
    assert torch.nonzero(changed).flatten().tolist() == [0, row.also[0] + 1]


def _alone(model, site, row: _Row, delta: torch.Tensor) -> torch.Tensor:
    """One row scored by a forward pass over it alone: its mean target NLL, or for an essence row
    the log-probs after its last token."""
    subject = len(row.head) - 1
    at = [subject, *(subject + a for a in row.also)]

    def add(_m, _a, out):
        out = out.clone()
        out[0, at] += delta
        return out

    handle = module(model, site).register_forward_hook(add)
    with torch.no_grad():
        logp = model(input_ids=torch.tensor([row.head + row.tail])).logits[0].float().log_softmax(-1)
    handle.remove()
    if row.target is None:
        return logp[-1]
    return -torch.stack([logp[subject + row.rest + j, t] for j, t in enumerate(row.target)]).mean()


def test_packed_rows_score_as_each_row_alone(any_model, byte_tokenizer):
    """Every context, chat and essence row of two facts in one packed sequence: each scores what it
    scores alone (no row sees another's tokens), before and after the first fact's rows are dropped."""
    tok = _chat_tokenizer(byte_tokenizer)
    requests = [REQ, EditRequest("Marie Curie was born in the city of", "Marie Curie", "Oslo", "Warsaw")]
    groups = context_groups(any_model, byte_tokenizer, CFG.contexts)
    encoded = [encode_groups(tok, r, groups, chat=True, reply="both") for r in requests]
    problem = _Problem(any_model, tok, requests, encoded, [target_ids(tok, r.target_new) for r in requests])
    site = edit_site(any_model, 1)
    torch.manual_seed(0)
    delta = torch.randn(2, any_model.config.hidden_size)
    for active in (None, torch.tensor([False, True])):
        if active is not None:
            problem.keep(active)
        bucket = problem.bucket
        with torch.no_grad():
            nll, ess, _ = bucket.forward(any_model, site, delta)
        ctx = [bucket.rows[i] for i in bucket.ctx.tolist()]
        assert {r.fact for r in bucket.rows} == ({0, 1} if active is None else {1})
        assert any(r.chat and r.also for r in ctx) and len(ctx) == len(nll)
        alone = torch.stack([_alone(any_model, site, r, delta[r.fact]) for r in ctx])
        assert torch.allclose(nll, alone, atol=1e-4)
        ess_alone = torch.stack([_alone(any_model, site, bucket.rows[i], delta[bucket.rows[i].fact])
                                 for i in bucket.ess.tolist()])
        assert torch.allclose(ess, ess_alone, atol=1e-4)


def test_after_the_first_pass_only_the_layers_above_the_edit_layer_run(any_model, byte_tokenizer):
    """Below the edit layer the tails do not depend on the delta. On Llama the passes after the first
    run only the layers above it, and every row still scores what it scores alone (after rows are
    dropped too); GPT-2's base model adds position embeddings to its input, so it runs every layer."""
    tok = _chat_tokenizer(byte_tokenizer)
    requests = [REQ, EditRequest("Marie Curie was born in the city of", "Marie Curie", "Oslo", "Warsaw")]
    encoded = [encode_groups(tok, r, context_groups(any_model, byte_tokenizer, CFG.contexts), chat=True)
               for r in requests]
    problem = _Problem(any_model, tok, requests, encoded, [target_ids(tok, r.target_new) for r in requests])
    site = edit_site(any_model, 1)
    llama = hasattr(any_model.base_model, "layers")
    first_layer = any_model.base_model.layers[0] if llama else any_model.base_model.h[0]
    calls = []
    handle = first_layer.register_forward_hook(lambda *_: calls.append(1))
    torch.manual_seed(0)
    for n, active in enumerate((None, None, torch.tensor([False, True]))):
        if active is not None:
            problem.keep(active)
        delta = torch.randn(2, any_model.config.hidden_size)
        calls.clear()
        with torch.no_grad():
            nll, _, _ = problem.bucket.forward(any_model, site, delta)
        assert bool(calls) == (n == 0 or not llama)
        rows = [problem.bucket.rows[i] for i in problem.bucket.ctx.tolist()]
        alone = torch.stack([_alone(any_model, site, r, delta[r.fact]) for r in rows])
        assert torch.allclose(nll, alone, atol=1e-4)
    handle.remove()


@pytest.mark.parametrize("collapsed, kept", [((), None), ((True, False), "retry"), ((True, True), "first")])
def test_an_edit_whose_answer_repeats_is_optimised_again_under_the_fallback_clamp(
        llama, byte_tokenizer, monkeypatch, collapsed, kept):
    """The edited model's answer to "What is <subject>?" is checked; when it repeats, the value is
    optimised again with ||delta|| <= fallback_clamp ||v||, and the retry is kept unless it repeats too."""
    import editing.rome as rome

    tok = _chat_tokenizer(byte_tokenizer)
    config = RomeConfig(layer=1, steps=8, contexts=ContextConfig(lengths=(3,), per_length=1), fallback_clamp=0.5)
    verdicts, answers = iter(collapsed), []
    monkeypatch.setattr(rome, "repeats", lambda text: answers.append(text) or next(verdicts, False))
    result = rome_edit(llama, tok, REQ, config)
    monkeypatch.undo()
    plain = rome_edit(llama, tok, REQ, replace(config, fallback_clamp=None))
    tight = rome_edit(llama, tok, REQ, replace(config, clamp_norm_factor=0.5, fallback_clamp=None))
    expected = tight if kept == "retry" else plain
    assert len(answers) == max(1, len(collapsed)) and all(answers)  # real generations were checked
    assert all(torch.equal(a, b) for a, b in zip(result.factors[_param(llama)], expected.factors[_param(llama)]))
    assert result.diagnostics.get("repetition", {}).get("kept") == kept
    bound = 0.5 * tight.diagnostics["value_norm"] + 1e-3
    assert tight.diagnostics["delta_norm"] <= bound < plain.diagnostics["delta_norm"]


def _param(model) -> str:
    return edit_site(model, 1).param_name


def _apply(model, result):
    with torch.no_grad():
        for name, delta in result.delta.items():
            model.get_parameter(name).add_(delta)


def test_single_edit_keeping_earlier_keys_spares_the_earlier_fact(llama, byte_tokenizer):
    """A second fact on a near-identical subject: plain ROME moves the first fact's key (and its
    p(target)); with the first key kept the move is many times smaller, and the second fact is still
    written exactly (ΔW k* = v* - W k*)."""
    first = EditRequest("The Eiffel Tower is located in the city of", "The Eiffel Tower", "Rome", "Paris")
    second = EditRequest("The Eiffel Towers are located in the city of", "The Eiffel Towers", "Oslo", "Paris")
    cfg = RomeConfig(**{**CFG.__dict__, "mom2_weight": 1.0})
    written = rome_edit(llama, byte_tokenizer, first, cfg)
    _apply(llama, written)
    p_first = answer_probs(llama, byte_tokenizer, first.prompt, "Rome")["p_new"]
    k1 = written.keys[1][:, 0]
    previous = k1.double().outer(k1.double())
    plain = rome_edit(llama, byte_tokenizer, second, cfg)
    kept = rome_edit(llama, byte_tokenizer, second, cfg, previous=previous)
    assert kept.diagnostics["kept_keys"] and not plain.diagnostics["kept_keys"]
    name = next(iter(plain.delta))
    moved_plain, moved_kept = (r.delta[name] @ k1 for r in (plain, kept))
    assert moved_kept.norm() < 0.1 * moved_plain.norm()
    k2 = kept.keys[1][:, 0]
    assert torch.allclose(kept.delta[name] @ k2, plain.delta[name] @ plain.keys[1][:, 0], rtol=1e-3, atol=1e-4)
    drift = {}
    base = {n: p.detach().clone() for n, p in llama.named_parameters()}
    for label, result in (("plain", plain), ("kept", kept)):
        _apply(llama, result)
        drift[label] = abs(answer_probs(llama, byte_tokenizer, first.prompt, "Rome")["p_new"] - p_first)
        with torch.no_grad():
            llama.get_parameter(name).copy_(base[name])
    assert drift["kept"] < drift["plain"]


def test_kept_keys_without_earlier_edits_is_plain_rome():
    cov, k, r = _system(4)
    plain = rank_one_update(k, r, cov)
    assert torch.allclose(rank_one_update(k, r, cov, torch.zeros(16, 16)), plain, atol=1e-5)
    assert torch.allclose(rank_one_update(k, r, cov, torch.outer(k, k)) @ k, r, atol=1e-4)


def test_most_probable_early_stop_stops_once_the_target_is_the_argmax():
    """ENCORE's stop: a target the model already predicts first stops at step 0; the NLL stop
    keeps optimising until the target is nearly certain."""
    tok = tiny_tokenizer()
    model = tiny_llama(vocab_size=len(tok.get_vocab()), initializer_range=1.0)
    prompt = "the capital of france is"
    with torch.no_grad():
        first = int(model(torch.tensor([tok.encode(prompt)])).logits[0, -1].argmax())
    request = EditRequest(prompt, "france", tok.convert_ids_to_tokens(first))
    contexts = ContextConfig(lengths=(3,), per_length=0, chat=False)  # the plain prompt only
    steps = {}
    for stop in ("nll", "most_probable"):
        result = rome_edit(model, tok, request, RomeConfig(layer=1, steps=10, early_stop=stop, early_stop_nll=1e-4, contexts=contexts))
        steps[stop] = result.diagnostics["steps"]
    assert result.diagnostics["nll_start"] > 1e-4  # so the NLL stop does not fire at once
    assert steps == {"nll": 10, "most_probable": 0}


def test_the_key_is_each_context_run_alone_up_to_the_subject(any_model, byte_tokenizer):
    """k* and W k* come from the heads only, stopped at the rewrite module, the chat row apart from
    the plain ones: the same means as running every whole context on its own."""
    chat_tok = copy.deepcopy(byte_tokenizer)
    chat_tok.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>"
    encoded = encode_groups(chat_tok, REQ, context_groups(any_model, chat_tok, CFG.contexts), chat=True)
    assert encoded[-1][0].target is not None
    site = edit_site(any_model, 1)
    keys, outs = [], []
    for e in (e for group in encoded for e in group):
        with capture(any_model.get_submodule(site.module_name)) as cap:
            any_model(input_ids=torch.tensor([e.head + e.rest]))
        keys.append(cap.inputs[0][0, len(e.head) - 1])
        outs.append(cap.outputs[0][0, len(e.head) - 1])
    k_star, w_k = key_and_output(any_model, site, encoded)
    assert torch.allclose(k_star, torch.stack(keys).mean(0), atol=1e-5)
    assert torch.allclose(w_k, torch.stack(outs).mean(0), atol=1e-5)
