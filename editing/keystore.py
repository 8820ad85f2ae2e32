"""Keys written by each applied edit entry, for AlphaEdit's protection of earlier edits.

One safetensors file per history entry (`<root>/<entry id>.safetensors`, tensor "layer<L>" of
shape (d_in, n_facts)). The protection state sum K K^T over applied entries is derived from the
files of the entries the caller says are applied, so it follows reverts exactly (files of reverted entries are kept).
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def add_keys(gram: dict[int, torch.Tensor], keys: dict[int, torch.Tensor], sign: float = 1.0) -> None:
    """gram[layer] += sign * K K^T (float64) for each layer's keys K (d_in, n), in place."""
    for layer, k in keys.items():
        k = k.double()
        gram[layer] = gram.get(layer, 0) + sign * (k @ k.t())


class KeyStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._included: set[str] = set()
        self._gram: dict[int, torch.Tensor] = {}
        self._facts: dict[int, int] = {}
        """Per layer, the number of keys in the gram: a layer whose keys all left is not returned."""

    def _path(self, entry_id: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", entry_id):
            raise ValueError(f"bad entry id {entry_id!r}")
        return self.root / f"{entry_id}.safetensors"

    def save(self, entry_id: str, keys: dict[int, torch.Tensor]) -> None:
        """Atomic and durable: write, fsync, rename, fsync the directory."""
        tmp = self._path(entry_id).with_suffix(".tmp")
        save_file({f"layer{layer}": k.float().cpu().clone().contiguous() for layer, k in keys.items()}, str(tmp))
        _fsync(tmp)
        tmp.replace(self._path(entry_id))
        _fsync(self.root)

    def load(self, entry_id: str) -> dict[int, torch.Tensor]:
        path = self._path(entry_id)
        if not path.exists():
            return {}
        return {int(name[5:]): t for name, t in load_file(str(path)).items()}

    def gram(self, applied: list[str]) -> dict[int, torch.Tensor]:
        """Per layer, sum of K K^T (float64) over the keys of the `applied` entries; only layers
        where some applied entry wrote keys. Incremental: only entries that joined or left since the
        last call are read."""
        with self._lock:
            wanted = set(applied)
            for entry_id, sign in [(e, -1.0) for e in self._included - wanted] + [
                (e, 1.0) for e in wanted - self._included
            ]:
                keys = self.load(entry_id)
                add_keys(self._gram, keys, sign)
                for layer, k in keys.items():
                    self._facts[layer] = self._facts.get(layer, 0) + int(sign) * k.shape[1]
            self._included = wanted
            return {layer: g for layer, g in self._gram.items() if self._facts.get(layer, 0) > 0}


def _fsync(path: Path) -> None:
    """Flush a file's data, or a directory's names, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
