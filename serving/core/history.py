"""The durable edit history: SQLite rows plus one safetensors file per weight delta.

Write-ahead: a weight delta is on disk (fsynced) and its row committed as ``pending`` before the
live model changes; the verdict (``applied`` or ``reverted``) is one later update of that row. After
a crash the weights are rebuilt from the base and the applied rows alone, and pending rows are
marked reverted. The same database keeps the background jobs (table ``jobs``).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel
from safetensors import safe_open
from safetensors.torch import save_file

from .errors import ConflictError, NotFoundError

Kind = Literal["memory", "edit", "skill"]
Status = Literal["pending", "applied", "reverted"]
"""``pending``: recorded, the regression guard's verdict not given yet."""
KINDS: tuple[str, ...] = ("memory", "edit", "skill")
INTERRUPTED = "interrupted before the regression guard's verdict; reverted at start-up"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    reverted_at TEXT,
    summary TEXT NOT NULL,
    details TEXT NOT NULL,
    params TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    entry_id TEXT,
    error TEXT
);
"""

JOB_COLUMNS = ("id", "kind", "status", "created_at", "message", "entry_id", "error")


class HistoryEntry(BaseModel):
    """One change, as the API shows it."""

    id: str
    kind: Kind
    status: Status
    created_at: str
    summary: str
    details: dict[str, Any]


@dataclass(frozen=True)
class LowRank:
    """A weight delta kept as ``left @ right`` (fp32): a rank-one edit of a 576 x 1536 matrix is
    stored in 8 KB instead of 3.5 MB. `dense` is what gets applied, at apply and at rebuild."""

    left: torch.Tensor  # (rows, rank)
    right: torch.Tensor  # (rank, cols)

    def __post_init__(self) -> None:
        if self.left.dim() != 2 or self.right.dim() != 2 or self.left.shape[1] != self.right.shape[0]:
            raise ValueError(f"low-rank factors do not chain: {tuple(self.left.shape)} @ {tuple(self.right.shape)}")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.left.shape[0], self.right.shape[1])

    def dense(self) -> torch.Tensor:
        """Sum of the rank-one terms in a fixed order, each product rounded before it is added,
        so the result is the same bits on any machine and thread count."""
        left, right = _fp32(self.left), _fp32(self.right)
        out = torch.zeros(self.shape, dtype=torch.float32)
        for k in range(left.shape[1]):
            out += left[:, k : k + 1] * right[k : k + 1]
        return out


Delta = torch.Tensor | LowRank


def _fp32(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", torch.float32).contiguous()


def dense(value: Delta) -> torch.Tensor:
    """A delta as an fp32 CPU tensor."""
    return value.dense() if isinstance(value, LowRank) else _fp32(value)


class EntryNotFoundError(NotFoundError):
    """No history entry has this id."""


class AlreadyRevertedError(ConflictError):
    """The entry was reverted before."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def fsync_dir(path: Path) -> None:
    """Make a rename into directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _json(details: dict[str, Any]) -> str:
    return json.dumps(finite(details), allow_nan=False)


class History:
    """Entries in creation order; at most one writer at a time (serialised by the engine)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.delta_dir = home / "deltas"
        self.delta_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(home / "history.db", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._remove_orphan_deltas()

    def _remove_orphan_deltas(self) -> None:
        """Delta files whose row never committed belong to a change that did not happen."""
        known = {row[0] for row in self._db.execute("SELECT id FROM entries WHERE params IS NOT NULL")}
        for path in self.delta_dir.iterdir():
            if path.name.split(".")[0] not in known:
                path.unlink()

    def _row(self, row: tuple) -> HistoryEntry:
        id_, kind, status, created_at, summary, details = row
        return HistoryEntry(
            id=id_, kind=kind, status=status, created_at=created_at, summary=summary,
            details=json.loads(details),
        )

    _COLUMNS = "id, kind, status, created_at, summary, details"

    def add(
        self,
        kind: Kind,
        summary: str,
        details: dict[str, Any],
        delta: dict[str, Delta] | None = None,
        status: Literal["pending", "applied"] = "applied",
    ) -> HistoryEntry:
        """Make a change durable; the caller applies it to the live state. A ``pending`` entry waits
        for :meth:`settle` and counts as applied only after it.

        Low-rank deltas are stored as their factors (``name:left``, ``name:right``)."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
        entry_id = f"{kind}-{uuid.uuid4().hex[:12]}"
        params = None
        if delta is not None:
            tensors: dict[str, torch.Tensor] = {}
            for name, value in delta.items():
                if isinstance(value, LowRank):
                    tensors[f"{name}:left"], tensors[f"{name}:right"] = _fp32(value.left), _fp32(value.right)
                else:
                    tensors[name] = _fp32(value)
            final = self.delta_dir / f"{entry_id}.safetensors"
            partial = final.with_suffix(".partial")
            save_file(tensors, partial)
            with open(partial, "rb") as f:
                os.fsync(f.fileno())
            os.replace(partial, final)
            fsync_dir(self.delta_dir)
            params = json.dumps(sorted(delta))
        with self._lock:
            self._db.execute(
                "INSERT INTO entries (id, kind, status, created_at, summary, details, params)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (entry_id, kind, status, _now(), summary, _json(details), params),
            )
        return self.get(entry_id)

    def get(self, entry_id: str) -> HistoryEntry:
        row = self._db.execute(
            f"SELECT {self._COLUMNS} FROM entries WHERE id = ?", (entry_id,)
        ).fetchone()
        if row is None:
            raise EntryNotFoundError(f"no history entry {entry_id!r}")
        return self._row(row)

    def list(self, kind: str | None = None, status: str | None = None, limit: int | None = None) -> list[HistoryEntry]:
        """Newest first."""
        sql, args = f"SELECT {self._COLUMNS} FROM entries WHERE 1=1", []
        if kind is not None:
            sql, args = sql + " AND kind = ?", [*args, kind]
        if status is not None:
            sql, args = sql + " AND status = ?", [*args, status]
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql, args = sql + " LIMIT ?", [*args, limit]
        return [self._row(r) for r in self._db.execute(sql, args)]

    def applied_ids(self) -> list[str]:
        """Applied entries, oldest first."""
        return [r[0] for r in self._db.execute("SELECT id FROM entries WHERE status = 'applied' ORDER BY seq")]

    def weight_entries(self) -> list[tuple[str, list[str]]]:
        """Applied entries that carry a weight delta, oldest first, with the parameters they touch."""
        rows = self._db.execute(
            "SELECT id, params FROM entries WHERE status = 'applied' AND params IS NOT NULL ORDER BY seq"
        )
        return [(r[0], json.loads(r[1])) for r in rows]

    def params_of(self, entry_id: str) -> list[str]:
        row = self._db.execute("SELECT params FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise EntryNotFoundError(f"no history entry {entry_id!r}")
        return json.loads(row[0]) if row[0] else []

    def delta(self, entry_id: str, names: list[str] | None = None) -> dict[str, torch.Tensor]:
        """The entry's fp32 delta, dense (optionally only some parameters)."""
        path = self.delta_dir / f"{entry_id}.safetensors"
        wanted = self.params_of(entry_id) if names is None else names
        out: dict[str, torch.Tensor] = {}
        with safe_open(path, framework="pt") as f:
            stored = set(f.keys())
            for name in wanted:
                if name in stored:
                    out[name] = f.get_tensor(name)
                elif f"{name}:left" in stored:
                    out[name] = LowRank(f.get_tensor(f"{name}:left"), f.get_tensor(f"{name}:right")).dense()
        return out

    def factors(self, entry_id: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The entry's low-rank deltas as their stored (left, right) factors, fp32 (dense ones left out)."""
        with safe_open(self.delta_dir / f"{entry_id}.safetensors", framework="pt") as f:
            names = [k[: -len(":left")] for k in f.keys() if k.endswith(":left")]
            return {name: (f.get_tensor(f"{name}:left"), f.get_tensor(f"{name}:right")) for name in names}

    def annotate(self, entry_id: str, extra: dict[str, Any]) -> HistoryEntry:
        """Merge ``extra`` into the entry's details (e.g. the regression guard's verdict)."""
        with self._lock:
            details = {**self.get(entry_id).details, **extra}
            self._db.execute("UPDATE entries SET details = ? WHERE id = ?", (_json(details), entry_id))
        return self.get(entry_id)

    def settle(self, entry_id: str, status: Literal["applied", "reverted"], extra: dict[str, Any]) -> HistoryEntry:
        """Give a pending entry its verdict: the new status and ``extra`` details in one update."""
        with self._lock:
            details = {**self.get(entry_id).details, **extra}
            cur = self._db.execute(
                "UPDATE entries SET status = ?, reverted_at = ?, details = ? WHERE id = ? AND status = 'pending'",
                (status, _now() if status == "reverted" else None, _json(details), entry_id),
            )
        if cur.rowcount == 0:
            raise ConflictError(f"entry {entry_id} is not pending")
        return self.get(entry_id)

    def revert_pending(self) -> list[str]:
        """Mark every pending entry reverted (a crash came before its verdict); their ids."""
        pending = self.list(status="pending")
        for entry in pending:
            self.settle(entry.id, "reverted", {"guard": {"reverted": True, "reason": INTERRUPTED}})
        return [e.id for e in pending]

    def mark_reverted(self, entry_id: str) -> HistoryEntry:
        with self._lock:
            cur = self._db.execute(
                "UPDATE entries SET status = 'reverted', reverted_at = ? WHERE id = ? AND status IN ('applied', 'pending')",
                (_now(), entry_id),
            )
        if cur.rowcount == 0:
            entry = self.get(entry_id)
            raise AlreadyRevertedError(f"entry {entry.id} is already reverted")
        return self.get(entry_id)

    def unrevert(self, entry_id: str, status: Literal["pending", "applied"]) -> None:
        """Undo :meth:`mark_reverted` (a revert that failed before it completed)."""
        with self._lock:
            self._db.execute("UPDATE entries SET status = ?, reverted_at = NULL WHERE id = ? AND status = 'reverted'",
                             (status, entry_id))

    # ---- jobs ---------------------------------------------------------------------------------
    def put_job(self, job: dict[str, Any]) -> None:
        """Insert or replace a job row (the keys of ``JOB_COLUMNS``)."""
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({', '.join('?' * len(JOB_COLUMNS))})",
                tuple(job[c] for c in JOB_COLUMNS),
            )

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        row = self._db.execute(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(zip(JOB_COLUMNS, row)) if row is not None else None

    def fail_unfinished_jobs(self, error: str) -> int:
        """Mark every queued or running job failed with ``error`` (the process that ran it is gone)."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET status = 'failed', error = ? WHERE status IN ('queued', 'running')", (error,))
        return cur.rowcount

    def close(self) -> None:
        self._db.close()
