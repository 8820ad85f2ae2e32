import pytest
import torch

from editing.arch import edit_site
from editing.config import ContextConfig, RomeConfig
from editing.keystore import KeyStore
from editing.memit import MemitConfig, memit_edit, nullspace_projector
from editing.request import EditRequest

REQS = [
    EditRequest("The Eiffel Tower is located in the city of", "The Eiffel Tower", "Rome", "Paris"),
    EditRequest("Danielle Darrieux speaks", "Danielle Darrieux", "English", "French"),
]
VALUE = RomeConfig(steps=10, clamp_norm_factor=1e3, weight_decay=0.0, contexts=ContextConfig(lengths=(3,), per_length=2))


def _covariances(layers, d=64, seed=3):
    torch.manual_seed(seed)
    out = {}
    for layer in layers:
        a = torch.randn(d, d) * torch.logspace(0, -3, d)  # a spread spectrum, like real keys
        out[layer] = a @ a.t() + 1e-6 * torch.eye(d)
    return out


def test_nullspace_projector_is_a_projection_onto_the_low_energy_directions():
    cov = _covariances([0])[0]
    p = nullspace_projector(cov, 0.02)
    assert torch.allclose(p, p.t(), atol=1e-5) and torch.allclose(p @ p, p, atol=1e-4)
    top = torch.linalg.eigh(cov.double()).eigenvectors[:, -1].float()
    assert (p @ top).norm() < 1e-4
    assert 0 < torch.trace(p) < cov.shape[0]


@pytest.mark.parametrize("nullspace", [True, False])
def test_batch_delta_spans_layers_and_leaves_model_untouched(llama, byte_tokenizer, nullspace):
    before = {n: p.detach().clone() for n, p in llama.named_parameters()}
    cfg = MemitConfig(layers=(1, 2), value=VALUE, nullspace=nullspace)
    covs = _covariances([1, 2])
    result = memit_edit(llama, byte_tokenizer, REQS, cfg, covs)
    assert all(torch.equal(before[n], p) for n, p in llama.named_parameters())
    assert sorted(result.delta) == sorted(edit_site(llama, layer).param_name for layer in (1, 2))
    assert result.keys[1].shape == (64, 2) and result.diagnostics["facts"] == 2
    if nullspace:
        # AlphaEdit: the update lives in the null space of C, so keys the model uses are untouched.
        for layer in (1, 2):
            p = nullspace_projector(covs[layer], cfg.nullspace_energy)
            dw = result.delta[edit_site(llama, layer).param_name]
            assert (dw @ (torch.eye(64) - p)).norm() < 1e-3 * max(dw.norm(), 1e-6)


@pytest.mark.parametrize("nullspace", [True, False])
def test_earlier_edits_keys_are_kept(llama, byte_tokenizer, nullspace):
    cfg = MemitConfig(layers=(1, 2), value=VALUE, nullspace=nullspace, mom2_weight=1.0)
    covs = _covariances([1, 2])
    first = memit_edit(llama, byte_tokenizer, REQS[:1], cfg, covs)
    previous = {layer: k.double() @ k.double().t() for layer, k in first.keys.items()}
    free = memit_edit(llama, byte_tokenizer, REQS[1:], cfg, covs)
    kept = memit_edit(llama, byte_tokenizer, REQS[1:], cfg, covs, previous)
    for layer in (1, 2):
        name, k = edit_site(llama, layer).param_name, first.keys[layer][:, 0]
        # The second edit barely moves what the first one's key reads, and still writes its own fact.
        assert (kept.delta[name] @ k).norm() < 0.2 * (free.delta[name] @ k).norm()
        k2 = kept.keys[layer][:, 0]
        assert (kept.delta[name] @ k2).norm() > 0.5 * (free.delta[name] @ k2).norm()


def test_identity_covariance_takes_the_keys_scale(llama, byte_tokenizer):
    # C = I must not change what λ means: it stands for s I, s the keys' mean square per dimension.
    cfg = MemitConfig(layers=(1,), value=VALUE)
    result = memit_edit(llama, byte_tokenizer, REQS, cfg, None)
    s = float((result.keys[1].double() ** 2).mean())
    scaled = memit_edit(llama, byte_tokenizer, REQS, cfg, {1: s * torch.eye(64)})
    name = edit_site(llama, 1).param_name
    assert torch.allclose(result.delta[name], scaled.delta[name], rtol=1e-3, atol=1e-6)
    bare = memit_edit(llama, byte_tokenizer, REQS, cfg, {1: torch.eye(64)})
    assert not torch.allclose(result.delta[name], bare.delta[name], rtol=1e-2)
    with pytest.raises(ValueError):
        memit_edit(llama, byte_tokenizer, REQS, MemitConfig(layers=(1,), value=VALUE, nullspace=True), None)


def test_memit_needs_covariances_of_its_layers(llama, byte_tokenizer):
    with pytest.raises(ValueError):
        memit_edit(llama, byte_tokenizer, REQS, MemitConfig(layers=(1, 2), value=VALUE), _covariances([1]))


def test_keystore_gram_follows_applied_entries(tmp_path):
    store = KeyStore(tmp_path)
    a, b = torch.randn(8, 2), torch.randn(8, 3)
    store.save("a", {4: a})
    store.save("b", {4: b, 5: b})
    both = store.gram(["a", "b"])
    assert torch.allclose(both[4], (a @ a.t() + b @ b.t()).double(), atol=1e-5)
    only_a = KeyStore(tmp_path).gram(["a"])
    assert torch.allclose(store.gram(["a"])[4], only_a[4], atol=1e-5)
    assert 5 not in store.gram(["a"])  # every key written at layer 5 left with "b"
    assert torch.allclose(store.gram(["a", "b"])[5], (b @ b.t()).double(), atol=1e-5)


def test_evaluation_reads_counterfact_and_mquake_records(tmp_path):
    import json

    from editing.evaluate import load_cases, mquake_rewrites

    rec = {"prompt": "The mother tongue of Danielle Darrieux is", "subject": "Danielle Darrieux",
           "target_new": "English", "ground_truth": "French", "rephrase_prompt": "Darrieux speaks",
           "locality_prompt": "Michel Rocard is a native speaker of", "locality_ground_truth": "French"}
    bad = {**rec, "subject": "Someone Else"}
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([bad, rec, rec]))
    cases = load_cases(path, n=5)
    assert len(cases) == 2 and cases[0].request.target_true == "French"
    assert len(load_cases(path, n=1)) == 1 and load_cases(path, n=0) == []  # 0 is none, not all
    mq = tmp_path / "mq.json"
    rw = {"prompt": "{} was performed by", "subject": "Hey Jude", "question": "Who performed Hey Jude?",
          "target_new": {"str": "Madonna"}, "target_true": {"str": "The Beatles"}}
    mq.write_text(json.dumps([{"requested_rewrite": [rw, rw]}]))
    ((req, question),) = mquake_rewrites(mq, 10)
    assert req.prompt == "Hey Jude was performed by" and question.startswith("Who")
