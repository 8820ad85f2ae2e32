"""A model directory with random bf16 weights in another model's architecture (its config and tokenizer).

    python bench/random_model.py SRC_DIR DST_DIR

For timing runs on a machine the real weights cannot reach: a step costs the same, the answers are
noise (and never end early). A causal LM gets its LM head; any other architecture (the embedder's
BERT) gets the bare encoder, and the source's other files and folders (``1_Pooling/``) come along.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM


def main(src: Path, dst: Path) -> None:
    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(src)
    causal = any(name.endswith("ForCausalLM") for name in config.architectures or ())
    model = (AutoModelForCausalLM if causal else AutoModel).from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(dst)
    for path in src.iterdir():
        if path.is_dir():
            shutil.copytree(path, dst / path.name, dirs_exist_ok=True)
        elif path.name != "config.json" and path.suffix != ".safetensors":
            shutil.copy(path, dst / path.name)
    print(f"{sum(p.numel() for p in model.parameters())} random parameters -> {dst}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
