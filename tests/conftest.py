"""Shared fixtures: tiny random models for the math, the real default model, a real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
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
    from serving.core.model_loader import prepare_model
    from serving.core.settings import Settings

    return Path(prepare_model(Settings(cache=TEST_CACHE)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_in_subprocess(home: Path, **env: str) -> Iterator[str]:
    """A real uvicorn server (``palimpsest serve``) on a free loopback port; yields its URL.

    Uses the real default model unless ``PALIMPSEST_MODEL=...`` is given. Stopped with SIGTERM
    (then SIGKILL) on exit; its log is ``home/../server-PORT.log``.
    """
    port = _free_port()
    home.mkdir(parents=True, exist_ok=True)
    log_path = home.parent / f"server-{port}.log"
    full_env = {**os.environ, "PALIMPSEST_HOME": str(home), "PALIMPSEST_CACHE": str(TEST_CACHE),
                "PALIMPSEST_PORT": str(port), "PALIMPSEST_DEVICE": "cpu", **env}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "serving.cli", "serve"], env=full_env,
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server did not come up in 300 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def start_server(default_model_dir: Path) -> Iterator[Callable[..., str]]:
    """``start_server(home, **env) -> base_url``; every server is stopped at teardown."""
    with ExitStack() as stack:
        yield lambda home, **env: stack.enter_context(serve_in_subprocess(home, **env))
