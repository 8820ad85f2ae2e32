"""Shared fixtures: tiny random models for the math, the real default model, a real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
TEST_CACHE = Path(os.environ.get("PALIMPSEST_TEST_CACHE", REPO / ".palimpsest" / "test-cache"))
"""Converted models live here across test runs (the first run converts the GGUF once)."""

TINY_WORDS = "the a is of in to and cat dog paris rome france italy city capital located".split()


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(["<unk>", "<pad>", "<eos>", *TINY_WORDS])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>")
    tok.chat_template = "{% for m in messages %}{{ m['role'] }} {{ m['content'] }} {% endfor %}"
    return tok


def tiny_llama_config(vocab_size: int = 64) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        tie_word_embeddings=True, eos_token_id=2, pad_token_id=1, bos_token_id=None,
    )


@pytest.fixture
def tiny_llama() -> LlamaForCausalLM:
    """A tiny random Llama (fp32, seeded, eval mode)."""
    torch.manual_seed(0)
    return LlamaForCausalLM(tiny_llama_config()).eval()


@pytest.fixture
def tiny_model_dir(tmp_path: Path, tiny_llama: LlamaForCausalLM) -> Path:
    """The tiny Llama and a word-level tokenizer saved as a model directory."""
    path = tmp_path / "tiny-llama"
    tiny_llama.save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The converted embedded default model (SmolLM2-135M-Instruct)."""
    from serving.model_loader import prepare_model
    from serving.settings import Settings

    return Path(prepare_model(Settings(cache=TEST_CACHE)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def start_server(default_model_dir: Path, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``start_server(home, **env) -> base_url``: a real uvicorn server on loopback.

    Defaults to the real default model; ``PALIMPSEST_MODEL=...`` in env overrides. Servers are
    stopped (SIGTERM, then SIGKILL) at teardown; their logs are in ``tmp_path``.
    """
    procs: list[subprocess.Popen] = []

    def start(home: Path, **env: str) -> str:
        port = _free_port()
        log = open(tmp_path / f"server-{port}.log", "wb")
        full_env = {**os.environ, "PALIMPSEST_HOME": str(home), "PALIMPSEST_CACHE": str(TEST_CACHE),
                    "PALIMPSEST_PORT": str(port), "PALIMPSEST_DEVICE": "cpu", **env}
        proc = subprocess.Popen(
            [sys.executable, "-m", "serving.cli", "serve"], env=full_env, stdout=log, stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(tmp_path / f'server-{port}.log').read_text()[-3000:]}")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                time.sleep(0.3)
        raise TimeoutError("server did not come up in 180 s")

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
