"""The shared model: one instance, one place where its weights change, one fingerprint."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .errors import InvalidInputError
from .history import Delta
from .rwlock import ReadWriteLock


class UnknownParameterError(InvalidInputError):
    """A weight delta names a parameter the model does not have, or has the wrong shape."""


def tensor_digest(tensor: torch.Tensor) -> str:
    """Hash of a tensor's exact bytes (dtype and shape included)."""
    data = tensor.detach().contiguous().cpu()
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{data.dtype}{tuple(data.shape)}".encode())
    h.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return h.hexdigest()


class ModelHost:
    """Owns the loaded model and tokenizer.

    Chats run under :meth:`reading`; :meth:`set_parameters` (the only code that writes weights)
    takes the write side, so a reader sees the old or the new weights, never a half-applied
    change. Nothing else takes the write side: long work runs on a copy of the model. Base
    values of every parameter ever changed are kept in fp32 on CPU so that the current weights
    can always be rebuilt as base + deltas.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        model_id: str,
        device: torch.device,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.device = device
        self._lock = ReadWriteLock()
        self._params: dict[str, torch.nn.Parameter] = dict(model.named_parameters())
        self._base: dict[str, torch.Tensor] = {}
        self._digests: dict[str, str] = {}
        """Per parameter, the digest of its current value, taken when a fingerprint first needs it: a
        copy that is never fingerprinted (the extraction's bfloat16 copy) never hashes its weights."""
        self._digest_lock = threading.Lock()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the weights still. Never wait for another thread while holding it: a waiting writer
        blocks new readers, so that thread could be stuck behind the writer, which waits for you."""
        with self._lock.read():
            yield

    def change_waiting(self) -> bool:
        """A weight change waits for the readers: a reader that can should finish and let it in."""
        return self._lock.writer_waiting

    def check_delta(self, delta: Mapping[str, Delta]) -> None:
        if not delta:
            raise UnknownParameterError("a weight delta must change at least one parameter")
        for name, value in delta.items():
            param = self._params.get(name)
            if param is None:
                raise UnknownParameterError(f"the model has no parameter {name!r}")
            if tuple(value.shape) != tuple(param.shape):
                raise UnknownParameterError(
                    f"delta for {name!r} has shape {tuple(value.shape)}, the parameter {tuple(param.shape)}"
                )

    def base_value(self, name: str) -> torch.Tensor:
        """The parameter's value before any change, fp32 on CPU (cloned on first use)."""
        if name not in self._base:
            self._base[name] = self._params[name].detach().to("cpu", torch.float32, copy=True)
        return self._base[name]

    def set_parameters(self, values: Mapping[str, torch.Tensor], then: Callable[[], None] | None = None) -> None:
        """Write fp32 values into the named parameters (cast to their dtype), atomically for readers;
        ``then()`` runs before readers come back (state derived from the weights, e.g. the edit gate)."""
        for name in values:
            self.base_value(name)
        with self._lock.write(), torch.no_grad():
            for name, value in values.items():
                param = self._params[name]
                param.copy_(value.to(param.device, param.dtype))
                with self._digest_lock:
                    self._digests[name] = tensor_digest(param)
            if then is not None:
                then()

    def fingerprint(self) -> str:
        """Hash of all current weights: equal fingerprints mean bit-identical weights."""
        with self._digest_lock:
            for name, param in self._params.items():
                if name not in self._digests:
                    self._digests[name] = tensor_digest(param)
            digests = sorted(self._digests.items())
        h = hashlib.sha256()
        for name, digest in digests:
            h.update(f"{name}:{digest};".encode())
        return h.hexdigest()[:32]
