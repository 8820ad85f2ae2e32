"""serving.evaluation: weights change only through the model host, and come back bit for bit."""

from __future__ import annotations

import torch

from serving.cli import build_parser
from serving.core.history import LowRank
from serving.core.model_host import ModelHost
from serving.evaluation.host import DeltaWriter
from tests.helpers.models import tiny_llama, tiny_tokenizer


def _host() -> ModelHost:
    model = tiny_llama()
    return ModelHost(model, tiny_tokenizer(), "tiny", torch.device("cpu"))


def test_add_matches_in_place_addition_and_restore_gives_the_base_back():
    host, reference = _host(), tiny_llama()
    name = "model.layers.0.mlp.down_proj.weight"
    shape = host.model.get_parameter(name).shape
    first, second = torch.randn(shape) * 1e-2, LowRank(torch.randn(shape[0], 2), torch.randn(2, shape[1]) * 1e-3)
    base_fingerprint = host.fingerprint()
    weights = DeltaWriter(host)
    weights.add({name: first})
    weights.add({name: second})
    with torch.no_grad():
        reference.get_parameter(name).add_(first).add_(second.dense())
    assert torch.equal(host.model.get_parameter(name), reference.get_parameter(name))
    assert torch.allclose(weights.change(name), first + second.dense(), atol=1e-6)
    weights.restore()
    assert host.fingerprint() == base_fingerprint
    assert torch.equal(host.model.get_parameter(name), tiny_llama().get_parameter(name))


def test_eval_commands_are_registered_with_required_data_paths():
    parser = build_parser()
    args = parser.parse_args(["eval", "edits", "--data", "cf.json", "--n", "2"])
    assert args.module == "serving.evaluation.edits" and str(args.data) == "cf.json" and args.mquake is None
    args = parser.parse_args(["eval", "memory", "--questions", "q.json", "--corpus", "c.json"])
    assert args.module == "serving.evaluation.memory" and args.damping is None
    args = parser.parse_args(["eval", "skills", "--tasks", "t", "--order", "a,b", "--strategy", "none,ssr"])
    assert args.module == "serving.evaluation.skills" and args.strategy == "none,ssr"
