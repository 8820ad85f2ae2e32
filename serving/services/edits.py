"""Weight edits: one fact with ROME, many with MEMIT/AlphaEdit, each one history entry.

The delta is computed under the host's exclusive lock (hooks on the live model), then applied
through the engine; a revert removes exactly that delta and its keys leave the key store.
"""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass
from typing import Any

import torch

from editing.arch import edit_site
from editing.config import ContextConfig, CovarianceConfig, RomeConfig
from editing.covariance import layer_covariances
from editing.keystore import KeyStore
from editing.memit import MemitConfig, memit_edit, memit_layers
from editing.probe import answer_probs
from editing.request import EditRequest
from editing.rome import EditResult, resolve_layer, rome_edit

from serving.core.engine import Engine
from serving.core.errors import InvalidSettingError
from serving.core.history import HistoryEntry, LowRank

log = logging.getLogger("palimpsest.edits")


@dataclass
class EditOutcome:
    """The recorded entry and p(target) per fact before and after the change."""

    entry: HistoryEntry
    before: list[dict[str, float]]
    after: list[dict[str, float]]


class EditService:
    """The key store (earlier edits' keys, which batches keep) and the key statistics C per layer."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.keys = KeyStore(engine.settings.home / "edits" / "keys")
        self._cov: dict[int, torch.Tensor] = {}
        self._lock = threading.Lock()

    def covariances(self, layers: list[int]) -> dict[int, torch.Tensor] | None:
        """C per layer (cached in memory and under cache_dir/edits); None when configured as identity.

        Statistics not cached yet are computed on a copy of the model taken under the read lock,
        so chats go on meanwhile (capture hooks on the live model would see their activations).
        Call it before taking the exclusive lock.
        """
        if self.settings.edit_covariance == "identity":
            return None
        with self._lock:
            missing = [layer for layer in layers if layer not in self._cov]
            if missing:
                host = self.engine.host
                with host.reading():
                    snapshot = copy.deepcopy(host.model)
                computed = layer_covariances(
                    snapshot, host.tokenizer, missing, self.settings.cache_dir / "edits",
                    model_id=str(host.model_id), source=self.settings.edit_covariance,
                    config=CovarianceConfig(n_texts=self.settings.edit_cov_texts, max_length=self.settings.edit_cov_length),
                    progress=lambda f, msg: log.info("covariance %.0f%%: %s", 100 * f, msg),
                )
                del snapshot
                self._cov.update({layer: c.to(host.device) for layer, c in computed.items()})
            return {layer: self._cov[layer] for layer in layers}

    def edit(self, request: EditRequest, layer: int | None = None, extra: dict[str, Any] | None = None) -> EditOutcome:
        """Write one fact with ROME at ``layer`` (default: the configured or the architecture's layer);
        ``extra`` goes into the entry's details (a routed edit names the memory ingest it owns)."""
        host = self.engine.host
        chosen = layer if layer is not None else self.settings.edit_layer
        if chosen is not None and chosen < 0:
            raise InvalidSettingError(f"layer must be >= 0, got {chosen}")
        resolved = resolve_layer(host.model, chosen)
        config = RomeConfig(
            layer=resolved,
            use_covariance=self.settings.edit_covariance != "identity",
            stop_on_chat=self.settings.edit_stop_on_chat,
            contexts=ContextConfig(chat=self.settings.edit_chat_context),
        )
        edit_site(host.model, resolved)  # an unknown layer fails here, before any statistics
        cov = self.covariances([resolved])
        with host.exclusive():
            before = self._probs([request])
            result = rome_edit(host.model, host.tokenizer, request, config, cov[resolved] if cov else None)
        details = {
            "request": _request_details(request),
            "method": "rome",
            "layers": result.layers,
            **{k: v for k, v in result.diagnostics.items() if k != "method"},
            **(extra or {}),
        }
        return self._apply(_summary(request), details, result, [request], before)

    def batch(self, requests: list[EditRequest], layers: list[int] | None = None) -> EditOutcome:
        """Write many facts over several layers (MEMIT keeping earlier keys, or AlphaEdit); one entry."""
        host = self.engine.host
        if layers is not None and (len(set(layers)) != len(layers) or min(layers) < 0):
            raise InvalidSettingError(f"layers must be distinct and >= 0, got {layers}")
        chosen = memit_layers(host.model, tuple(sorted(layers)) if layers else None)
        identity = self.settings.edit_covariance == "identity"
        config = MemitConfig(layers=tuple(chosen), nullspace=self.settings.edit_batch_method == "alphaedit" and not identity)
        config.value.contexts.chat = self.settings.edit_chat_context
        config.value.stop_on_chat = self.settings.edit_stop_on_chat
        for layer in chosen:
            edit_site(host.model, layer)
        cov = self.covariances(chosen)
        with host.exclusive():
            before = self._probs(requests)
            previous = self.keys.gram(self.engine.applied())
            result = memit_edit(host.model, host.tokenizer, requests, config, cov, previous)
        details = {"requests": [_request_details(r) for r in requests], **result.diagnostics}
        summary = f"{len(requests)} facts: " + "; ".join(_summary(r) for r in requests[:3])
        return self._apply(summary + (" …" if len(requests) > 3 else ""), details, result, requests, before)

    def _apply(
        self, summary: str, details: dict[str, Any], result: EditResult, requests: list[EditRequest],
        before: list[dict[str, float]],
    ) -> EditOutcome:
        """Record and apply the delta, keep its keys, and note p(target) after (single edits: one dict)."""
        single = "request" in details
        details = {**details, "before": before[0] if single else before, "probes": _guard_probes(requests)}
        factors = {name: LowRank(left, right) for name, (left, right) in result.factors.items()}
        entry = self.engine.apply_delta("edit", summary, details, factors)
        self.keys.save(entry.id, result.keys)
        with self.engine.host.reading():
            after = self._probs(requests)
        entry = self.engine.history.annotate(entry.id, {"after": after[0] if single else after})
        return EditOutcome(entry, before, after)

    def _probs(self, requests: list[EditRequest]) -> list[dict[str, float]]:
        host = self.engine.host
        return [answer_probs(host.model, host.tokenizer, r.prompt, r.target_new, r.target_true) for r in requests]


def _request_details(r: EditRequest) -> dict[str, Any]:
    return {"prompt": r.prompt, "subject": r.subject, "target_new": r.target_new, "target_true": r.target_true}


def _guard_probes(requests: list[EditRequest]) -> list[dict[str, str]]:
    """The edited facts, which the regression guard keeps checking after later changes."""
    return [{"group": "edits", "prompt": r.prompt, "continuation": r.target_new.strip()} for r in requests]


def _summary(r: EditRequest) -> str:
    return f"{r.prompt} → {r.target_new.strip()}"
