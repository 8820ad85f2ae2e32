import dataclasses

import pytest
import torch

from editing.arch import edit_site
from editing.config import RomeConfig
from editing.precision import value_model
from editing.probe import answer_probs
from editing.rome import rome_edit
from tests.editing.test_rome import CFG, REQ
from tests.helpers.models import tiny_llama


def test_bfloat16_copy_keeps_ties_and_hooks_and_leaves_the_model_as_it_was():
    model = tiny_llama(tie_word_embeddings=True)
    seen = []
    site = model.get_submodule(edit_site(model, 1).module_name)
    site.register_forward_hook(lambda _m, _a, out: seen.append(out.dtype))
    attention = model.config._attn_implementation

    work = value_model(model, "bfloat16")

    assert work is not model
    assert {p.dtype for p in work.parameters()} == {torch.bfloat16}
    assert not any(p.requires_grad for p in work.parameters())
    assert work.get_output_embeddings().weight is work.get_input_embeddings().weight
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert model.config._attn_implementation == attention
    work(input_ids=torch.tensor([[1, 2, 3]]))
    assert seen == [torch.bfloat16]  # the copy runs the hooks registered on the model
    assert value_model(model, "float32") is model
    assert value_model(work, "bfloat16") is work


def test_edit_optimised_in_bfloat16_writes_the_fact_as_fp32_does(llama, byte_tokenizer):
    name = edit_site(llama, 1).param_name
    deltas = {d: rome_edit(llama, byte_tokenizer, REQ, dataclasses.replace(CFG, value_dtype=d)).delta[name]
              for d in ("float32", "bfloat16")}
    assert deltas["bfloat16"].dtype == torch.float32
    assert torch.nn.functional.cosine_similarity(deltas["float32"].flatten(), deltas["bfloat16"].flatten(), dim=0) > 0.9
    p0 = answer_probs(llama, byte_tokenizer, REQ.prompt, "Rome")["p_new"]
    with torch.no_grad():
        llama.get_parameter(name).add_(deltas["bfloat16"])
    assert answer_probs(llama, byte_tokenizer, REQ.prompt, "Rome")["p_new"] > 1.5 * p0


def test_unknown_value_dtype_is_refused():
    with pytest.raises(ValueError, match="value_dtype"):
        RomeConfig(value_dtype="float16")


def test_the_final_steps_run_on_the_model_as_loaded(llama, byte_tokenizer):
    name = edit_site(llama, 1).param_name
    fp32 = rome_edit(llama, byte_tokenizer, REQ, dataclasses.replace(CFG, value_dtype="float32")).delta[name]
    every_step = dataclasses.replace(CFG, value_dtype="bfloat16", final_steps=CFG.steps)
    assert torch.equal(rome_edit(llama, byte_tokenizer, REQ, every_step).delta[name], fp32)
    none = dataclasses.replace(CFG, value_dtype="bfloat16", final_steps=0)
    assert not torch.equal(rome_edit(llama, byte_tokenizer, REQ, none).delta[name], fp32)
