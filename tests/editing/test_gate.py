import copy

import pytest
import torch

from editing.arch import edit_site, module, to_param_factors
from editing.gate import EditGate, GateConfig, WrittenFacts, rows_outside
from editing.hooks import capture
from editing.rome import rank_one_factors


def _edit(model, layer: int, seed: int):
    """A C for the layer, a key k*, and the ROME factors writing a random residual at k*."""
    site = edit_site(model, layer)
    d_in = module(model, site).weight.shape[0 if site.transposed else 1]
    d_out = module(model, site).weight.shape[1 if site.transposed else 0]
    torch.manual_seed(seed)
    a = torch.randn(d_in, d_in)
    cov = a @ a.t() / d_in + 0.1 * torch.eye(d_in)
    k_star, residual = torch.randn(d_in), torch.randn(d_out)
    left, right = rank_one_factors(k_star, residual, cov)
    return site, cov, k_star, residual, to_param_factors(site, left, right)


def _out(model, site, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return module(model, site)(x)


def test_gate_keeps_the_fact_and_removes_the_leak_to_other_keys(any_model):
    site, cov, k_star, residual, (left, right) = _edit(any_model, 1, seed=3)
    base = copy.deepcopy(any_model)
    with torch.no_grad():
        any_model.get_parameter(site.param_name).add_(left @ right)
    # a key at C-metric cosine 0.1 to k* (below the gate's low end): x = R w, C = R R^T, w the whitened key
    r_chol = torch.linalg.cholesky(cov)
    wk = torch.linalg.solve_triangular(r_chol, k_star.view(-1, 1), upper=False).view(-1)
    wk = wk / wk.norm()
    wo = torch.randn_like(wk)
    wo = wo - (wo @ wk) * wk
    other = r_chol @ (0.1 * wk + 0.995 * wo / wo.norm()) * 5.0

    leak = _out(any_model, site, other) - _out(base, site, other)
    assert leak.abs().max() > 1e-3  # ungated, the edit moves the unrelated key's output

    gate = EditGate(any_model, GateConfig())
    gate.set([WrittenFacts({site.param_name: (left, right)}, {1: k_star.view(-1, 1)})], {1: cov})
    assert torch.allclose(_out(any_model, site, other), _out(base, site, other), atol=1e-5)
    assert torch.allclose(_out(any_model, site, k_star) - _out(base, site, k_star), residual, atol=1e-4)

    gate.set([])  # no applied edits: the module is the written weights again
    assert torch.allclose(_out(any_model, site, other) - _out(base, site, other), leak, atol=1e-6)


def test_gate_ramps_between_low_and_high_and_follows_a_model_copy(llama):
    site, cov, k_star, residual, (left, right) = _edit(llama, 2, seed=5)
    with torch.no_grad():
        llama.get_parameter(site.param_name).add_(left @ right)
    gate = EditGate(llama, GateConfig(low=0.2, high=0.6))  # C = I: the plain cosine
    gate.set([WrittenFacts({site.param_name: (left, right)}, {2: k_star.view(-1, 1)})])
    unit = k_star / k_star.norm()
    ortho = torch.randn_like(unit)
    ortho = ortho - (ortho @ unit) * unit
    ortho = ortho / ortho.norm()
    w = llama.get_parameter(site.param_name).detach()
    for cos, expected in [(0.1, 0.0), (0.4, 0.5), (0.8, 1.0)]:
        x = (cos * unit + (1 - cos**2) ** 0.5 * ortho) * 3.0
        written = (left @ right) @ x
        got = _out(llama, site, x) - (w - left @ right) @ x
        assert torch.allclose(got, expected * written, atol=1e-4), cos

    snapshot = copy.deepcopy(llama)  # an edit's snapshot keeps the gate as it was
    gate.set([])
    x = ortho * 3.0
    assert not torch.allclose(_out(snapshot, site, x), _out(llama, site, x), atol=1e-6)
    assert torch.allclose(_out(llama, site, x), w @ x, atol=1e-5)


def test_gate_takes_a_batch_edit_term_by_term(llama):
    """A MEMIT-style entry writes several facts at once: each term is gated by its own key."""
    site = edit_site(llama, 1)
    torch.manual_seed(7)
    keys = torch.linalg.qr(torch.randn(llama.config.intermediate_size, 2))[0] * 4.0  # two orthogonal keys
    residuals = torch.randn(llama.config.hidden_size, 2)
    right = torch.linalg.pinv(keys)  # ΔW k_j = r_j
    with torch.no_grad():
        llama.get_parameter(site.param_name).add_(residuals @ right)
    gate = EditGate(llama, GateConfig())
    gate.set([WrittenFacts({site.param_name: (residuals, right)}, {1: keys})])
    w0 = llama.get_parameter(site.param_name).detach() - residuals @ right
    for j in range(2):
        assert torch.allclose(_out(llama, site, keys[:, j]) - w0 @ keys[:, j], residuals[:, j], atol=1e-4)
    with pytest.raises(ValueError, match="2 update terms but 1 keys"):
        gate.set([WrittenFacts({site.param_name: (residuals, right)}, {1: keys[:, :1]})])


def test_gate_config_is_checked():
    with pytest.raises(ValueError):
        GateConfig(low=0.5, high=0.5)


def test_gated_forward_pass_runs_through_the_whole_model(llama, byte_tokenizer):
    site, cov, k_star, residual, (left, right) = _edit(llama, 1, seed=9)
    ids = torch.tensor([byte_tokenizer("The Eiffel Tower")["input_ids"]])
    with torch.no_grad(), capture(module(llama, site)) as cap:
        base = llama(ids).logits
    with torch.no_grad():
        llama.get_parameter(site.param_name).add_(left @ right)
        ungated = llama(ids).logits
    gate = EditGate(llama, GateConfig())
    gate.set([WrittenFacts({site.param_name: (left, right)}, {1: k_star.view(-1, 1)})], {1: cov})
    with torch.no_grad():
        gated = llama(ids).logits
    assert cap.inputs  # the hook site is the one the gate sits on
    assert (gated - base).abs().max() < (ungated - base).abs().max()


def test_rows_outside_get_the_base_output_and_the_other_rows_the_edit(llama):
    site, cov, k_star, residual, (left, right) = _edit(llama, 2, seed=7)
    base = copy.deepcopy(llama)
    with torch.no_grad():
        llama.get_parameter(site.param_name).add_(left @ right)
    EditGate(llama, GateConfig()).set([WrittenFacts({site.param_name: (left, right)}, {2: k_star.view(-1, 1)})], {2: cov})
    x = torch.stack([k_star, k_star, k_star]).view(3, 1, -1)  # three rows, each the written key
    edited, unedited = _out(llama, site, x), _out(base, site, x)
    assert torch.allclose(edited - unedited, residual.expand(3, 1, -1), atol=1e-4)
    with rows_outside(torch.tensor([False, True, False])):
        scoped = _out(llama, site, x)
    assert torch.allclose(scoped[1], unedited[1], atol=1e-5)  # the edit taken out of row 1 only
    assert torch.equal(scoped[[0, 2]], edited[[0, 2]])
    assert torch.equal(_out(llama, site, x), edited)  # only inside the block
    with rows_outside(torch.tensor([True, False])), pytest.raises(ValueError, match="rows_outside"):
        _out(llama, site, x)  # flags that do not fit the batch
