"""Weight edits: POST /v1/edits (ROME, one fact) and POST /v1/edits/batch (MEMIT/AlphaEdit).

The delta is computed under the host's exclusive lock (hooks on the live model), then applied
through the engine's history; a revert removes exactly that delta.
"""
from __future__ import annotations

import copy
import logging
import threading
import weakref
import torch
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from editing.arch import edit_site
from editing.config import ContextConfig, CovarianceConfig, RomeConfig
from editing.covariance import layer_covariances
from editing.keystore import KeyStore
from editing.memit import MemitConfig, memit_edit, memit_layers
from editing.probe import answer_probs
from editing.request import EditRequest, EditRequestError
from editing.rome import EditResult, resolve_layer, rome_edit

from serving.http.deps import get_engine
from serving.core.engine import Engine
from serving.http.errors import ApiError
from serving.core.history import LowRank

log = logging.getLogger("palimpsest.edits")
router = APIRouter()


class EditIn(BaseModel):
    prompt: str = Field(min_length=1)
    subject: str
    target_new: str
    target_true: str | None = None


class SingleEditIn(EditIn):
    layer: int | None = None


class BatchIn(BaseModel):
    edits: list[EditIn] = Field(min_length=1, max_length=2000)
    layers: list[int] | None = None


class _Editor:
    """Per-engine state: settings, the key store and covariance loading."""

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
                    snapshot, host.tokenizer, missing, self.engine.settings.cache_dir / "edits",
                    model_id=str(host.model_id), source=self.settings.edit_covariance,
                    config=CovarianceConfig(n_texts=self.settings.edit_cov_texts, max_length=self.settings.edit_cov_length),
                    progress=lambda f, msg: log.info("covariance %.0f%%: %s", 100 * f, msg),
                )
                del snapshot
                self._cov.update({layer: c.to(host.device) for layer, c in computed.items()})
            return {layer: self._cov[layer] for layer in layers}


_EDITORS: "weakref.WeakKeyDictionary[Engine, _Editor]" = weakref.WeakKeyDictionary()


def install(engine: Engine) -> None:
    _EDITORS[engine] = _Editor(engine)


def _editor(engine: Engine) -> _Editor:
    if engine not in _EDITORS:
        install(engine)
    return _EDITORS[engine]


def _requests(items: list[EditIn]) -> list[EditRequest]:
    try:
        return [EditRequest(e.prompt, e.subject, e.target_new, e.target_true) for e in items]
    except EditRequestError as exc:
        raise ApiError(400, str(exc)) from exc


def _probs(engine: Engine, reqs: list[EditRequest]) -> list[dict[str, float]]:
    host = engine.host
    return [answer_probs(host.model, host.tokenizer, r.prompt, r.target_new, r.target_true) for r in reqs]


def _guard_probes(reqs: list[EditRequest]) -> list[dict[str, str]]:
    """The edited facts, which the regression guard keeps checking after later changes."""
    return [{"group": "edits", "prompt": r.prompt, "continuation": r.target_new.strip()} for r in reqs]


def _summary(r: EditRequest) -> str:
    return f"{r.prompt} → {r.target_new.strip()}"


@router.post("/v1/edits", status_code=201)
def create_edit(body: SingleEditIn, engine: Engine = Depends(get_engine)) -> dict:
    """Write one fact with ROME; 201 with the entry and p(target) before and after."""
    (req,) = _requests([body])
    editor = _editor(engine)
    try:
        layer = resolve_layer(engine.host.model, body.layer if body.layer is not None else editor.settings.edit_layer)
        config = RomeConfig(
            layer=layer,
            use_covariance=editor.settings.edit_covariance != "identity",
            stop_on_chat=editor.settings.edit_stop_on_chat,
            contexts=ContextConfig(chat=editor.settings.edit_chat_context),
        )
        edit_site(engine.host.model, layer)  # an unknown layer fails here, before any statistics
        cov = editor.covariances([layer])
        with engine.host.exclusive():
            (before,) = _probs(engine, [req])
            result = rome_edit(engine.host.model, engine.host.tokenizer, req, config, cov[layer] if cov else None)
    except EditRequestError as exc:
        raise ApiError(400, str(exc)) from exc
    except ValueError as exc:  # a config value out of range, e.g. a negative layer
        raise ApiError(422, str(exc)) from exc
    details = {
        "request": body.model_dump(exclude={"layer"}),
        "method": "rome",
        "layers": result.layers,
        **{k: v for k, v in result.diagnostics.items() if k != "method"},
        "before": before,
        "probes": _guard_probes([req]),
    }
    entry = engine.apply_delta("edit", _summary(req), details, _low_rank(result))
    editor.keys.save(entry.id, result.keys)
    with engine.host.reading():
        (after,) = _probs(engine, [req])
    entry = engine.history.annotate(entry.id, {"after": after})
    return {"entry": entry.model_dump(), "before": before, "after": after}


@router.post("/v1/edits/batch", status_code=201)
def create_batch(body: BatchIn, engine: Engine = Depends(get_engine)) -> dict:
    """Write many facts at once over several layers; one history entry for the batch."""
    reqs = _requests(body.edits)
    editor = _editor(engine)
    try:
        model, tok = engine.host.model, engine.host.tokenizer
        layers = memit_layers(model, tuple(body.layers) if body.layers else None)
        identity = editor.settings.edit_covariance == "identity"
        config = MemitConfig(layers=tuple(layers), nullspace=editor.settings.edit_batch_method == "alphaedit" and not identity)
        config.value.contexts.chat = editor.settings.edit_chat_context
        config.value.stop_on_chat = editor.settings.edit_stop_on_chat
        for layer in layers:
            edit_site(model, layer)
        cov = editor.covariances(layers)
        with engine.host.exclusive():
            before = _probs(engine, reqs)
            previous = editor.keys.gram(engine.applied())
            result = memit_edit(model, tok, reqs, config, cov, previous)
    except EditRequestError as exc:
        raise ApiError(400, str(exc)) from exc
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    details = {
        "requests": [e.model_dump() for e in body.edits],
        **result.diagnostics,
        "before": before,
        "probes": _guard_probes(reqs),
    }
    summary = f"{len(reqs)} facts: " + "; ".join(_summary(r) for r in reqs[:3]) + (" …" if len(reqs) > 3 else "")
    entry = engine.apply_delta("edit", summary, details, _low_rank(result))
    editor.keys.save(entry.id, result.keys)
    with engine.host.reading():
        after = _probs(engine, reqs)
    entry = engine.history.annotate(entry.id, {"after": after})
    return {"entry": entry.model_dump(), "before": before, "after": after}


def _low_rank(result: EditResult) -> dict[str, LowRank]:
    return {name: LowRank(left, right) for name, (left, right) in result.factors.items()}

