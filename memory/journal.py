"""Durable, append-only persistence of ingest records.

Layout under the memory directory:
    journal.jsonl            one line per operation: {"op": "add"|"remove", "id": ...}
    ingests/<id>.json        the ingest record (passages, entities, contexts, facts, synonyms, and for
                             the fact lifecycle valid_from, replaces and relations)
    ingests/<id>.npz         its vectors (passages, entities, facts, relations; rows in record order)
An ingest counts once its "add" line is in the journal; the files are written (and fsynced, their
directory too) before that line, so a crash leaves either a whole ingest or none. A line is
appended whole or not at all: a failed append is cut off again. Restart replays the live ingests in
journal order and deletes the files of any other; the fact lifecycle is derived from them
(`memory.facts`), so it is not journalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

import numpy as np

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def check_ingest_id(ingest_id: str) -> str:
    if not _ID.match(ingest_id):
        raise ValueError(f"invalid ingest id {ingest_id!r}: use letters, digits, '_', '-', '.'")
    return ingest_id


class IngestJournal:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.dir = self.root / "ingests"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "journal.jsonl"
        self._drop_torn_tail()
        self._delete_dead_files()

    def live_ids(self) -> list[str]:
        """Ingest ids added and not removed, in the order they were added."""
        live: dict[str, None] = {}
        if not self.path.exists():
            return []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a torn last line: that operation never completed
            if row.get("op") == "add":
                live[row["id"]] = None
            elif row.get("op") == "remove":
                live.pop(row["id"], None)
        return list(live)

    def read(self, ingest_id: str) -> tuple[dict, dict[str, np.ndarray]]:
        record = json.loads((self.dir / f"{ingest_id}.json").read_text(encoding="utf-8"))
        with np.load(self.dir / f"{ingest_id}.npz") as z:
            vectors = {k: z[k] for k in z.files}
        return record, vectors

    def add(self, record: dict, vectors: dict[str, np.ndarray]) -> None:
        ingest_id = check_ingest_id(record["id"])
        _atomic_write(self.dir / f"{ingest_id}.npz", lambda f: np.savez(f, **vectors))
        _atomic_write(self.dir / f"{ingest_id}.json", lambda f: f.write(json.dumps(record).encode()))
        self._append({"op": "add", "id": ingest_id})

    def remove(self, ingest_id: str) -> None:
        """Raises only before the "remove" line is written (then nothing changed); the files are
        deleted after it, and any a failure keeps are deleted at the next start."""
        self._append({"op": "remove", "id": ingest_id})
        for suffix in (".json", ".npz"):
            with contextlib.suppress(OSError):
                (self.dir / f"{ingest_id}{suffix}").unlink(missing_ok=True)

    def _delete_dead_files(self) -> None:
        """Files of ingests that are not live: a crash before their "add" line, or a removal."""
        live = set(self.live_ids())
        for path in self.dir.iterdir():
            for suffix in (".json", ".npz", ".json.tmp", ".npz.tmp"):
                if path.name.endswith(suffix) and path.name[: -len(suffix)] not in live:
                    path.unlink(missing_ok=True)
                    break

    def _drop_torn_tail(self) -> None:
        """Cut a partial last line left by a crash, so later appends start on a fresh line."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def _append(self, row: dict) -> None:
        """Append one line durably, or leave the journal as it was and raise."""
        created = not self.path.exists()
        line = (json.dumps(row) + "\n").encode()
        with self.path.open("ab", buffering=0) as f:
            size = f.seek(0, os.SEEK_END)
            try:
                if f.write(line) != len(line):
                    raise OSError(f"short write to {self.path}")
                os.fsync(f.fileno())
            except BaseException:
                with contextlib.suppress(OSError):
                    f.truncate(size)
                raise
        if created:
            fsync_dir(self.root)


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make the names in directory ``path`` durable (a rename or a new file in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
