"""The engine: the model host and the history kept consistent.

Invariant: the live weights equal ``base + sum(c_i * deltas of applied entries, in order)``,
computed in fp32 and cast to the model dtype; c_i is 1 except for a kind with a mixer (skills:
their merging strategy makes c_i a function of the applied entries of that kind, see :meth:`Engine.mix`). ``apply_delta`` and ``revert`` keep it; start-up re-derives
it from the history, so a crash at any point leaves either the old or the new state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch

from .decoding import Decoder
from .errors import ConflictError, RegressionGuardError
from .guard import GuardConfig, RegressionGuard
from .history import AlreadyRevertedError, Delta, History, HistoryEntry, Kind, dense
from .jobs import JobRunner
from .model_host import ModelHost
from .metrics import Metrics
from .model_loader import load_model
from .settings import Settings
from .turns import Turns

log = logging.getLogger("palimpsest.engine")

Mixer = Callable[[list[HistoryEntry]], list[float]]
"""The coefficient of each applied entry of a kind (given oldest first) on its stored delta."""

class Engine:
    """The shared model and its history: every weight change and every revert goes through here."""

    def __init__(self, settings: Settings, host: ModelHost) -> None:
        self.settings = settings
        self.host = host
        settings.home.mkdir(parents=True, exist_ok=True)
        self.history = History(settings.home)
        self.jobs = JobRunner(self.history)
        self.metrics = Metrics()
        batch = settings.decode_batch or (64 if host.device.type == "cuda" else 16)
        self.turns = Turns(settings.extract_share)
        """The chat's forward passes go first; other decoders on the same cores take the turns left."""
        self.decoder = Decoder(host, batch, settings.decode_queue, settings.request_timeout, self.metrics,
                               settings.retry_after, turn=self.turns.foreground)
        self._reverters: dict[str, Callable[[HistoryEntry], None]] = {}
        self._mixers: dict[str, Mixer] = {}
        self._followers: list[Callable[[list[str]], None]] = []
        self._change = threading.Lock()
        self._sums: dict[str, torch.Tensor] = {}
        """fp32 ``base + applied deltas`` of every parameter any applied entry touches."""
        self.base_fingerprint = host.fingerprint()
        self.guard: RegressionGuard | None = None
        if settings.guard:
            self.guard = RegressionGuard(GuardConfig(
                threshold=settings.guard_threshold, fluency=settings.guard_fluency,
                entropy_drop=settings.guard_entropy_drop, perplexity_rise=settings.guard_perplexity_rise))
        self._restore()

    @classmethod
    def load(cls, settings: Settings) -> Engine:
        model, tokenizer, device = load_model(settings)
        return cls(settings, ModelHost(model, tokenizer, settings.model, device))

    def _restore(self) -> None:
        """Revert the entries a crash left without a verdict; rebuild the live weights from the base
        and the applied entries."""
        for entry_id in self.history.revert_pending():
            log.warning("%s had no regression-guard verdict (the server stopped first): reverted", entry_id)
        touched = sorted({name for _, names in self.history.weight_entries() for name in names})
        if touched:
            self._rebuild(touched)
            log.info("restored %d applied weight changes", len(self.history.weight_entries()))

    def _rebuild(self, names: list[str]) -> None:
        """Recompute these parameters from the base and the applied deltas, oldest first."""
        values = self._rebuilt(names)
        self._sums.update(values)
        self.host.set_parameters(values, self._following(self.applied()))

    def follow(self, fn: Callable[[list[str]], None]) -> None:
        """``fn(applied entry ids, oldest first)`` runs now and whenever the live weights change, with
        them, before any reader or the guard sees them: state derived from the applied entries (the
        edit gate) stays in step with the weights. A pending entry counts as applied."""
        with self._change:
            self._followers.append(fn)
            applied = self.applied()
            self.host.set_parameters({}, lambda: fn(applied))

    def _following(self, applied: list[str]) -> Callable[[], None] | None:
        if not self._followers:
            return None

        def run() -> None:
            for fn in self._followers:
                fn(applied)

        return run

    def _rebuilt(
        self, names: list[str], without: str | None = None, pending: str | None = None
    ) -> dict[str, torch.Tensor]:
        """These parameters as ``base + c_i * applied deltas`` (oldest first), leaving out entry
        ``without`` and counting the ``pending`` entry as applied (last)."""
        values = {name: self.host.base_value(name).clone() for name in names}
        entries = [(i, p) for i, p in self.history.weight_entries() if i != without]
        if pending is not None:
            entries.append((pending, self.history.params_of(pending)))
        coefficients = self.coefficients([i for i, _ in entries])
        for entry_id, params in entries:
            wanted = [n for n in params if n in values]
            c = coefficients.get(entry_id, 1.0)
            for name, d in (self.history.delta(entry_id, wanted) if wanted else {}).items():
                values[name] += d if c == 1.0 else c * d
        return values

    def coefficients(self, entry_ids: list[str] | None = None) -> dict[str, float]:
        """The mixers' coefficients of these entries (default: the applied weight entries), by id;
        entries of kinds without a mixer are left out (their coefficient is 1)."""
        ids = [i for i, _ in self.history.weight_entries()] if entry_ids is None else entry_ids
        entries = [self.history.get(i) for i in ids] if self._mixers else []
        out: dict[str, float] = {}
        for kind, mixer in self._mixers.items():
            mine = [e for e in entries if e.kind == kind]
            out.update(zip([e.id for e in mine], mixer(mine), strict=True))
        return out

    def _mixed_names(self, kind: str, names: list[str]) -> list[str]:
        """``names``, and for a mixed kind every parameter its applied entries touch (their
        coefficients change together)."""
        if kind not in self._mixers:
            return sorted(names)
        touched = {n for i, params in self.history.weight_entries() if self.history.get(i).kind == kind for n in params}
        return sorted(touched | set(names))

    def mix(self, kind: Kind, mixer: Mixer) -> None:
        """Weigh the stored deltas of ``kind`` by ``mixer(applied entries of kind, oldest first)``;
        the coefficients are recomputed at every apply and revert, so a revert stays exact. The
        parameters of the kind's applied entries are rebuilt now (the owner registers at start-up)."""
        with self._change:
            self._mixers[kind] = mixer
            names = self._mixed_names(kind, [])
            if names:
                self._rebuild(names)

    def warm_guard(self) -> None:
        """Score the guard's model-wide probes and fluency on the weights as they are, so that the next
        change's "before" costs nothing (the server's start-up); nothing without a guard."""
        if self.guard is not None:
            with self.host.reading():
                self.guard.score(self.host.model, self.host.tokenizer, self.guard.probes([]))

    def apply_delta(
        self, kind: Kind, summary: str, details: dict[str, Any], delta: Mapping[str, Delta],
        on_recorded: Callable[[HistoryEntry], None] | None = None, computed_on: str | None = None,
    ) -> HistoryEntry:
        """Record the delta as ``pending``, add it to the live weights, then record the guard's verdict.

        ``on_recorded(entry)`` runs once the pending row is durable and before the weights change:
        state that must exist whenever the entry is applied (an edit's keys, a skill's rehearsal
        record) is saved there, so a crash leaves either a pending entry (reverted at start-up) or
        an applied one with that state. Any failure after the row reverts it. When the guard
        rejects the change, the revert is recorded first, then :class:`RegressionGuardError` is raised.
        ``computed_on``: the fingerprint of the weights the delta was computed from; when the weights
        have changed since, nothing is recorded and :class:`ConflictError` is raised.
        """
        self.host.check_delta(delta)
        with self._change, self.metrics.updates.labels(kind).time():
            if computed_on is not None and computed_on != self.host.fingerprint():
                raise ConflictError("the weights changed while this change was computed (another change was "
                                    "applied or reverted meanwhile); send it again")
            probes, before, seconds = None, {}, 0.0
            if self.guard is not None:
                earlier = [e.details for e in self.history.list(status="applied", limit=256)]
                probes = self.guard.probes(earlier)
                with self.host.reading():
                    before, seconds = self.guard.score(self.host.model, self.host.tokenizer, probes)
            names = self._mixed_names(kind, list(delta))
            entry = self.history.add(kind, summary, details, dict(delta), status="pending")
            try:
                if on_recorded is not None:
                    on_recorded(entry)
                if kind in self._mixers:  # every coefficient of the kind may change: rebuild them
                    self._sums.update(self._rebuilt(names, pending=entry.id))
                else:  # same additions in the same order as _rebuild, without re-reading older deltas
                    for name, d in delta.items():
                        total = self._sums.get(name)
                        total = self.host.base_value(name).clone() if total is None else total
                        self._sums[name] = total + dense(d)
                self.host.set_parameters({name: self._sums[name] for name in names},
                                         self._following([*self.applied(), entry.id]))
                verdict = None
                if probes is not None:
                    with self.host.reading():
                        after, more = self.guard.score(self.host.model, self.host.tokenizer, probes)
                    verdict = self.guard.judge(before, after, seconds + more, probes)
            except BaseException as exc:
                self._rebuild(names)
                self.history.settle(entry.id, "reverted", {"error": f"{type(exc).__name__}: {exc}"})
                raise
            if verdict is not None:
                self.metrics.guard.labels("rejected" if verdict.reverted else "accepted").inc()
            if verdict is not None and verdict.reverted:
                log.warning("%s: %s", entry.id, verdict.reason)
                self._rebuild(names)
                entry = self.history.settle(entry.id, "reverted", {"guard": verdict.as_details()})
                raise RegressionGuardError(verdict.reason, entry.model_dump(), verdict.as_details())
            return self.history.settle(entry.id, "applied", {"guard": verdict.as_details()} if verdict else {})

    def record(self, kind: Kind, summary: str, details: dict[str, Any]) -> HistoryEntry:
        """Record a change that holds no weights (its owner keeps the state, e.g. the memory)."""
        with self._change:
            return self.history.add(kind, summary, details)

    def on_revert(self, kind: Kind, fn: Callable[[HistoryEntry], None]) -> None:
        """``fn(entry)`` undoes a ``kind`` entry's non-weight state, all or nothing: when it raises it
        has changed nothing. It runs once the entry is marked reverted; the owner's start-up drops
        state whose entry is not applied, which finishes an undo a crash interrupted."""
        self._reverters[kind] = fn

    def revert(self, entry_id: str) -> HistoryEntry:
        """Remove exactly this entry's contribution; every other entry stays applied.

        Atomic. The new weights are computed first; marking the row reverted is the commit; then
        the live weights change and the owner's undo runs. If either fails, the old weights and the
        row's status come back and the error is raised: the entry is still applied, nothing half
        undone. A crash after the commit is finished at start-up (weights rebuilt, state dropped).
        """
        with self._change, self.metrics.updates.labels("revert").time():
            entry = self.history.get(entry_id)
            if entry.status == "reverted":
                raise AlreadyRevertedError(f"entry {entry.id} is already reverted")
            names = self._mixed_names(entry.kind, self.history.params_of(entry_id))
            was_applied = self.applied()
            values = self._rebuilt(names, without=entry_id)
            old = {name: self._sums.get(name, self.host.base_value(name)) for name in names}
            reverted = self.history.mark_reverted(entry_id)
            try:
                if values:
                    self.host.set_parameters(values, self._following(self.applied()))
                if entry.status == "applied" and entry.kind in self._reverters:
                    self._reverters[entry.kind](entry)
            except BaseException:
                if old:
                    self.host.set_parameters(old, self._following(was_applied))
                self.history.unrevert(entry_id, entry.status)
                raise
            self._sums.update(values)
        return reverted

    @contextmanager
    def changes_paused(self) -> Iterator[None]:
        """No entry is applied or reverted meanwhile (chats go on)."""
        with self._change:
            yield

    def applied(self) -> list[str]:
        return self.history.applied_ids()

    def close(self) -> None:
        self.decoder.close()
        self.jobs.shutdown()
        self.history.close()
