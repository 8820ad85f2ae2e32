"""Weight edits: one fact with ROME, many with MEMIT/AlphaEdit, each one history entry.

Both keep the keys of the earlier applied edits (the key store) out of the way of the new update,
so a later edit, single or batch, leaves the earlier facts written (``edit_single_solve=rome``:
plain ROME for single edits).

Edits run one at a time, and each computes on a snapshot: a copy of the model taken while no
change is in flight. The optimisation (hooks included) runs on the copy, at a low CPU priority,
while chats go on; only applying the delta takes the write lock. An edit whose snapshot went stale
(another change was applied or reverted while it computed) is refused with 409
:class:`ConflictError` and leaves no trace: the caller sends it again. A revert removes exactly
that delta and its keys leave the key store.

The applied edits are scope-gated (``editing.gate``, ``settings.edit_gate``): the engine hands every
change of the live weights to :meth:`EditService._follow`, which feeds the gate the applied edits'
factors and keys, so an edit acts on its own subject's keys and not on unrelated ones.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import torch
from torch import nn

from editing.arch import edit_site
from editing.config import ContextConfig, CovarianceConfig, RomeConfig
from editing.contexts import context_groups, share_contexts
from editing.covariance import layer_covariances
from editing.gate import EditGate, GateConfig, WrittenFacts
from editing.keystore import KeyStore
from editing.memit import MemitConfig, memit_edit, memit_layers
from editing.probe import answer_probs
from editing.request import EditRequest
from editing.rome import EditResult, resolve_layer, rome_edit

from serving.core.engine import Engine
from serving.core.errors import InvalidSettingError
from serving.core.history import HistoryEntry, LowRank
from serving.core.settings import Settings

log = logging.getLogger("palimpsest.edits")
T = TypeVar("T")

VALUE_SCHEDULES: dict[str, dict[str, Any]] = {
    "thorough": {},  # RomeConfig's own: 25 steps at lr 0.5, the last 5 on the model as loaded
    "fast": {"steps": 12, "lr": 0.75, "final_steps": 0},
}
"""``settings.edit_value_schedule`` -> the ``RomeConfig`` fields a single edit's value optimisation sets."""


@dataclass
class EditOutcome:
    """The recorded entry and p(target) per fact before and after the change."""

    entry: HistoryEntry
    before: list[dict[str, float]]
    after: list[dict[str, float]]


@dataclass
class Snapshot:
    """A private copy of the model, the fingerprint of its weights, and the entries applied in it."""

    model: nn.Module
    fingerprint: str
    applied: list[str]


class EditService:
    """The key store (earlier edits' keys, which batches keep) and the key statistics C per layer.

    >>> outcome = runtime.edits.edit(EditRequest("The Eiffel Tower is located in", "The Eiffel Tower", "Rome"))
    >>> outcome.entry.status
    'applied'
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.keys = KeyStore(engine.settings.home / "edits" / "keys")
        self._cov: dict[int, torch.Tensor] = {}
        self._stats = threading.Lock()
        """Held while statistics are computed: an edit waits for the start-up computation, not redoes it."""
        self._serial = threading.Lock()
        """Held for a whole edit, snapshot to saved keys: a batch sees every earlier edit's keys."""
        self._written: dict[str, tuple[WrittenFacts, tuple[str, ...]] | None] = {}
        """Per entry id, its facts as the gate takes them and their subjects (None: not an edit)."""
        self.subjects: tuple[str, ...] = ()
        """The subjects of the applied edits, oldest first, while the gate is on (else empty): a
        question about none of them can be answered outside the edits (``SamplingParams.edits``)."""
        self.gate: EditGate | None = None
        if self.settings.edit_gate:
            try:
                config = GateConfig(self.settings.edit_gate_low, self.settings.edit_gate_high)
            except ValueError as exc:
                raise InvalidSettingError(f"edit_gate_low/high: {exc}") from exc
            self.gate = EditGate(engine.host.model, config)
            engine.follow(self._follow)

    def _follow(self, applied: list[str]) -> None:
        """Gate the applied edits (the engine runs this with every change of the live weights)."""
        for entry_id in applied:
            if entry_id not in self._written:
                entry = self.engine.history.get(entry_id)
                requests = [entry.details.get("request")] + entry.details.get("requests", [])
                self._written[entry_id] = (
                    WrittenFacts(self.engine.history.factors(entry_id), self.keys.load(entry_id)),
                    tuple(r["subject"] for r in requests if r and r.get("subject")),
                ) if entry.kind == "edit" else None
        written = [w for i in applied if (w := self._written[i]) is not None]
        edits = [facts for facts, _ in written]
        self.subjects = tuple(dict.fromkeys(s for _, subjects in written for s in subjects))
        layers = sorted({layer for w in edits for layer in w.keys})
        cov = self._covariances(self.engine.host.model, layers) if layers else None
        self.gate.set(edits, cov)

    def snapshot(self) -> Snapshot:
        """Copy the model while no change is applied or reverted and no writer holds the weights."""
        host = self.engine.host
        with self.engine.changes_paused(), host.reading():
            snap = Snapshot(copy.deepcopy(host.model), host.fingerprint(), self.engine.applied())
        share_contexts(host.model, snap.model)
        return snap

    def _covariances(self, model: nn.Module, layers: list[int]) -> dict[int, torch.Tensor] | None:
        """C per layer (cached in memory and under cache_dir/edits), measured on the snapshot
        ``model``; None when configured as identity."""
        if self.settings.edit_covariance == "identity":
            return None
        with self._stats:
            missing = [layer for layer in layers if layer not in self._cov]
            if missing:
                host = self.engine.host
                computed = key_statistics(model, host.tokenizer, missing, self.settings, str(host.model_id))
                self._cov.update({layer: c.to(host.device) for layer, c in computed.items()})
            return {layer: self._cov[layer] for layer in layers}

    def prepare_in_background(self) -> threading.Thread | None:
        """Load or compute the key statistics of the default layers on a snapshot and sample the
        edits' context prefixes, then score the regression guard's model-wide probes, at a low CPU
        priority, on a thread of their own (the server's start-up), so the first edit pays for none
        of them; None when there is nothing to prepare (C = I and no guard)."""
        statistics = self.settings.edit_covariance != "identity"
        if not statistics and self.engine.guard is None:
            return None

        def run() -> None:
            try:  # the first edit computes what fails here, and reports it
                snap = self.snapshot()
                if statistics:
                    layers = default_layers(snap.model, self.settings)
                    _at_low_priority(lambda: self._covariances(snap.model, layers))
                    log.info("key statistics ready for layers %s", layers)
                _at_low_priority(lambda: context_groups(snap.model, self.engine.host.tokenizer, ContextConfig()))
            except Exception:
                log.exception("preparing the key statistics and edit contexts at start-up failed")
            try:
                _at_low_priority(self.engine.warm_guard)
            except Exception:  # the first change scores them then
                log.exception("scoring the regression guard's probes at start-up failed")

        thread = threading.Thread(target=run, name="palimpsest-prepare", daemon=True)
        thread.start()
        return thread

    def edit(
        self, request: EditRequest, layer: int | None = None, extra: dict[str, Any] | None = None,
        solve: Literal["keep", "rome"] | None = None,
    ) -> EditOutcome:
        """Write one fact with ROME at ``layer`` (default: the configured or the architecture's layer);
        ``extra`` goes into the entry's details (a routed edit names the memory ingest it owns).

        ``solve`` (default ``settings.edit_single_solve``): "keep" keeps the keys of the earlier
        applied edits still, with the system matrix of the batch solve; "rome" is plain ROME."""
        host = self.engine.host
        keep = (solve or self.settings.edit_single_solve) == "keep"
        chosen = layer if layer is not None else self.settings.edit_layer
        if chosen is not None and chosen < 0:
            raise InvalidSettingError(f"layer must be >= 0, got {chosen}")
        resolved = resolve_layer(host.model, chosen)
        config = RomeConfig(
            layer=resolved,
            use_covariance=self.settings.edit_covariance != "identity",
            stop_on_chat=self.settings.edit_stop_on_chat,
            early_stop=self.settings.edit_early_stop,
            value_dtype=self.settings.edit_value_dtype,
            contexts=ContextConfig(chat=self.settings.edit_chat_context, chat_reply=self.settings.edit_chat_reply),
            fallback_clamp=RomeConfig.fallback_clamp if self.settings.edit_repetition_retry else None,
            **VALUE_SCHEDULES[self.settings.edit_value_schedule],
        )
        edit_site(host.model, resolved)  # an unknown layer fails here, before any statistics
        with self._serial:
            before, result, computed_on, seconds = self._compute([resolved], [request], lambda snap, cov: rome_edit(
                snap.model, host.tokenizer, request, config, cov[resolved] if cov else None,
                self.keys.gram(snap.applied).get(resolved) if keep else None))
            details = {
                "request": _request_details(request),
                "method": "rome",
                "solve": "keep" if keep else "rome",
                "layers": result.layers,
                **{k: v for k, v in result.diagnostics.items() if k != "method"},
                **(extra or {}),
            }
            return self._apply(_summary(request), details, result, [request], before, computed_on, seconds)

    def batch(self, requests: list[EditRequest], layers: list[int] | None = None) -> EditOutcome:
        """Write many facts over several layers (MEMIT keeping earlier keys, or AlphaEdit); one entry."""
        host = self.engine.host
        if layers is not None and (len(set(layers)) != len(layers) or min(layers) < 0):
            raise InvalidSettingError(f"layers must be distinct and >= 0, got {layers}")
        chosen = memit_layers(host.model, tuple(sorted(layers)) if layers else None)
        identity = self.settings.edit_covariance == "identity"
        config = MemitConfig(layers=tuple(chosen), nullspace=self.settings.edit_batch_method == "alphaedit" and not identity)
        config.value.contexts.chat = self.settings.edit_chat_context
        config.value.contexts.chat_reply = self.settings.edit_chat_reply
        config.value.stop_on_chat = self.settings.edit_stop_on_chat
        config.value.early_stop = self.settings.edit_early_stop
        config.value.value_dtype = self.settings.edit_value_dtype
        for layer in chosen:
            edit_site(host.model, layer)
        with self._serial:
            before, result, computed_on, seconds = self._compute(chosen, requests, lambda snap, cov: memit_edit(
                snap.model, host.tokenizer, requests, config, cov, self.keys.gram(snap.applied)))
            details = {"requests": [_request_details(r) for r in requests], **result.diagnostics}
            summary = f"{len(requests)} facts: " + "; ".join(_summary(r) for r in requests[:3])
            return self._apply(summary + (" …" if len(requests) > 3 else ""), details, result, requests, before,
                               computed_on, seconds)

    def _compute(
        self, layers: list[int], requests: list[EditRequest],
        optimise: Callable[[Snapshot, dict[int, torch.Tensor] | None], EditResult],
    ) -> tuple[list[dict[str, float]], EditResult, str, dict[str, float]]:
        """Snapshot the model, then measure p(target) and ``optimise(snapshot, C per layer)`` on the copy
        at a low CPU priority. Returns p(target) before, the result, the snapshot's fingerprint and
        the seconds of each step. Call it holding ``_serial``; the copy is freed on return."""
        seconds: dict[str, float] = {}
        t = time.perf_counter()
        snap = self.snapshot()
        seconds["snapshot"] = time.perf_counter() - t

        def work() -> tuple[list[dict[str, float]], EditResult]:
            t = time.perf_counter()
            cov = self._covariances(snap.model, layers)
            seconds["statistics"] = time.perf_counter() - t
            probs = self._probs(snap.model, requests)
            seconds["p_before"] = time.perf_counter() - t - seconds["statistics"]
            t = time.perf_counter()
            result = optimise(snap, cov)
            seconds["edit"] = time.perf_counter() - t
            return probs, result

        return *_at_low_priority(work), snap.fingerprint, seconds

    def _apply(
        self, summary: str, details: dict[str, Any], result: EditResult, requests: list[EditRequest],
        before: list[dict[str, float]], computed_on: str, seconds: dict[str, float],
    ) -> EditOutcome:
        """Record and apply the delta (refused when the weights moved since ``computed_on``), keep its
        keys, and note p(target) after (single edits: one dict) and where the time went
        (``details.service_seconds``: snapshot, statistics, p_before, edit, apply_and_guard, p_after)."""
        single = "request" in details
        details = {**details, "before": before[0] if single else before, "probes": _guard_probes(requests)}
        factors = {name: LowRank(left, right) for name, (left, right) in result.factors.items()}
        t = time.perf_counter()
        entry = self.engine.apply_delta("edit", summary, details, factors, computed_on=computed_on,
                                        on_recorded=lambda e: self.keys.save(e.id, result.keys))
        seconds["apply_and_guard"] = time.perf_counter() - t
        host = self.engine.host
        t = time.perf_counter()
        with host.reading():
            after = self._probs(host.model, requests)
        seconds["p_after"] = time.perf_counter() - t
        entry = self.engine.history.annotate(entry.id, {
            "after": after[0] if single else after,
            "service_seconds": {k: round(v, 3) for k, v in seconds.items()},
        })
        return EditOutcome(entry, before, after)

    def _probs(self, model: nn.Module, requests: list[EditRequest]) -> list[dict[str, float]]:
        tokenizer = self.engine.host.tokenizer
        return [answer_probs(model, tokenizer, r.prompt, r.target_new, r.target_true) for r in requests]


def default_layers(model: nn.Module, settings: Settings) -> list[int]:
    """The layers edits use unless a request names others: ROME's and MEMIT's."""
    return sorted({resolve_layer(model, settings.edit_layer), *memit_layers(model, None)})


def key_statistics(
    model: nn.Module, tokenizer: Any, layers: list[int], settings: Settings, model_id: str,
    progress: Callable[[float, str], None] | None = None,
) -> dict[int, torch.Tensor]:
    """C per layer from ``settings.cache_dir/edits``, computed and saved there when missing (minutes
    on a CPU for the default model); ``progress(fraction, message)`` defaults to the log."""
    return layer_covariances(
        model, tokenizer, layers, settings.cache_dir / "edits", model_id=model_id, source=settings.edit_covariance,
        config=CovarianceConfig(n_texts=settings.edit_cov_texts, max_length=settings.edit_cov_length),
        progress=progress or (lambda f, msg: log.info("key statistics %.0f%%: %s", 100 * f, msg)),
    )


def _at_low_priority(fn: Callable[[], T]) -> T:
    """``fn()`` on a fresh thread at nice +10 (Linux), so that chats decoding meanwhile keep most of
    the CPU; the thread, and its priority, end with ``fn`` (an unprivileged thread cannot raise its
    priority back)."""

    def run() -> T:
        if sys.platform == "linux":
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        return fn()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="palimpsest-edit") as pool:
        return pool.submit(run).result()


def _request_details(r: EditRequest) -> dict[str, Any]:
    return {"prompt": r.prompt, "subject": r.subject, "target_new": r.target_new, "target_true": r.target_true}


def _guard_probes(requests: list[EditRequest]) -> list[dict[str, str]]:
    """The edited facts, which the regression guard keeps checking after later changes."""
    return [{"group": "edits", "prompt": r.prompt, "continuation": r.target_new.strip()} for r in requests]


def _summary(r: EditRequest) -> str:
    return f"{r.prompt} → {r.target_new.strip()}"
