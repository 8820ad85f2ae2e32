import torch

import editing.covariance as covariance
from editing.config import CovarianceConfig
from editing.covariance import layer_covariances, regularise, second_moment
from editing.hooks import capture


def test_second_moment_is_the_sum_of_outer_products_of_non_pad_keys(llama, byte_tokenizer):
    texts = ["hello there", "a longer text than the first one"]
    stats = second_moment(llama, byte_tokenizer, texts, [1, 2], max_length=64, batch_size=2)
    keys = []
    for t in texts:
        with capture(llama.model.layers[2].mlp.down_proj) as cap:
            llama(torch.tensor([byte_tokenizer.encode(t)]))
        keys.append(cap.inputs[0][0].double())
    k = torch.cat(keys)
    mom, count = stats[2]
    assert count == k.shape[0]
    assert torch.allclose(mom, k.t() @ k, rtol=1e-3, atol=1e-3)  # padded batch vs one by one
    assert stats[1][0].shape == (64, 64)


def test_covariances_are_cached_per_model_source_and_layer(llama, byte_tokenizer, tmp_path, monkeypatch):
    cfg = CovarianceConfig(n_texts=4, max_length=8, batch_size=2)
    first = layer_covariances(llama, byte_tokenizer, [1], tmp_path, model_id="tiny", config=cfg)
    assert list((tmp_path / "tiny" / "self").glob("*.safetensors"))

    def fail(*_a, **_k):
        raise AssertionError("recomputed despite the cache")

    monkeypatch.setattr(covariance, "sample_texts", fail)
    monkeypatch.setattr(covariance, "second_moment", fail)
    again = layer_covariances(llama, byte_tokenizer, [1], tmp_path, model_id="tiny", config=cfg)
    assert torch.equal(first[1], again[1])
    assert torch.linalg.matrix_rank(first[1].double()) == 64  # regularised: invertible


def test_corpus_source(llama, byte_tokenizer, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("first paragraph of text\n\nsecond paragraph\n\nthird one here")
    cfg = CovarianceConfig(n_texts=10, max_length=16, batch_size=2, ridge=0.0)
    cov = layer_covariances(llama, byte_tokenizer, [1], tmp_path / "cache", model_id="tiny", source=corpus, config=cfg)
    raw = second_moment(llama, byte_tokenizer, corpus.read_text().split("\n\n"), [1], max_length=16)
    mom, count = raw[1]
    assert torch.allclose(cov[1].double(), mom / count, rtol=1e-4, atol=1e-6)
    assert torch.allclose(regularise(mom / count, 0.0).double(), mom / count, atol=1e-5)
