"""The edit methods behind one interface: (model, tokenizer, requests, C per layer, K_p K_p^T) -> EditResult."""
from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from editing.config import ContextConfig, RomeConfig
from editing.memit import MemitConfig, memit_edit, memit_layers
from editing.request import EditRequest, Tokenizer
from editing.rome import EditResult, resolve_layer, rome_edit

Method = Literal["rome", "rome-identity", "memit", "alphaedit"]
Editor = Callable[..., EditResult]


def edit_layers(model: nn.Module, method: Method, layer: int | None = None) -> list[int]:
    """The layers whose covariance `method` needs."""
    return [resolve_layer(model, layer)] if method.startswith("rome") else memit_layers(model, None)


def make_editor(method: Method, layer: int | None = None, chat_context: bool = True, keep_keys: bool = True) -> Editor:
    """An editor for `method`; `chat_context` adds the chat-template context (ContextConfig.chat).

    `keep_keys`: ROME keeps the keys of earlier edits (`previous`) still, as batches always do;
    False is plain ROME."""
    def edit(
        model: nn.Module,
        tokenizer: Tokenizer,
        requests: list[EditRequest],
        covariances: dict[int, torch.Tensor] | None,
        previous: dict[int, torch.Tensor] | None = None,
    ) -> EditResult:
        if method.startswith("rome"):
            if len(requests) != 1:
                raise ValueError("ROME writes one fact at a time; use memit or alphaedit for batches")
            cfg = RomeConfig(
                layer=resolve_layer(model, layer),
                use_covariance=method == "rome",
                contexts=ContextConfig(chat=chat_context),
            )
            cov = covariances.get(cfg.layer) if covariances and cfg.use_covariance else None
            kept = previous.get(cfg.layer) if keep_keys and previous else None
            return rome_edit(model, tokenizer, requests[0], cfg, cov, kept)
        cfg = MemitConfig(nullspace=method == "alphaedit")
        cfg.value.contexts.chat = chat_context
        return memit_edit(model, tokenizer, requests, cfg, covariances, previous)

    return edit
