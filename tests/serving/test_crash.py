"""A process killed (SIGKILL) in the middle of a change, an ingest or a revert loses nothing and leaves
no half-change, and no entry is applied without the regression guard's verdict."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from serving.core.engine import Engine
from serving.core.settings import Settings
from tests.helpers.engine import synthetic_delta, tiny_runtime

NAMES = ["model.layers.1.mlp.down_proj.weight", "model.layers.2.mlp.up_proj.weight"]

CHILD = textwrap.dedent("""
    import sys, time
    import serving.core.engine, serving.core.history, serving.core.model_host
    from serving.core.engine import Engine
    from serving.core.settings import Settings
    from tests.helpers.engine import synthetic_delta

    point, model_dir, home = sys.argv[1], sys.argv[2], sys.argv[3]

    def park():
        print("READY", flush=True)
        time.sleep(600)

    if point == "delta-written":          # delta file on disk, row not committed
        real_save = serving.core.history.save_file
        def save_then_park(*a, **k):
            real_save(*a, **k)
            park()
        serving.core.history.save_file = save_then_park
    elif point == "committed":            # row committed as pending, live weights untouched
        serving.core.model_host.ModelHost.set_parameters = lambda self, values, then=None: park()
    elif point == "half-applied":         # one of two parameters written
        real_set = serving.core.model_host.ModelHost.set_parameters
        def half(self, values, then=None):
            first = dict(list(values.items())[:1])
            real_set(self, first, then)
            park()
        serving.core.model_host.ModelHost.set_parameters = half
    elif point == "judged":               # weights written, guard scored, before the verdict is recorded
        serving.core.history.History.settle = lambda self, *a, **k: park()
    elif point == "settled":              # the verdict recorded
        real_settle = serving.core.history.History.settle
        def settle_then_park(self, *a, **k):
            real_settle(self, *a, **k)
            park()
        serving.core.history.History.settle = settle_then_park

    engine = Engine.load(Settings(model=model_dir, home=home))
    engine.apply_delta("edit", "crash test", {}, synthetic_delta(engine.host.model, {names}, seed=7))
""").replace("{names}", json.dumps(NAMES))


MEMORY_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from serving.core.engine import Engine
    from serving.core.history import History
    from tests.helpers.engine import tiny_runtime

    point, home = sys.argv[1], Path(sys.argv[2])

    def park(*args, **kwargs):
        print("READY", flush=True)
        time.sleep(600)

    def then_park(real):
        return lambda *args, **kwargs: (real(*args, **kwargs), park())

    rt = tiny_runtime(home)
    if point == "ingested":               # the journal's add line written, no history row
        Engine.record = park
    elif point == "revert-committed":     # the row marked reverted, the ingest not removed yet
        entry, _ = rt.memory.add_facts([("Ilse Varga", "works for", "Ostrander Mills")])
        History.mark_reverted = then_park(History.mark_reverted)
        rt.engine.revert(entry.id)
    rt.memory.add_facts([("Ilse Varga", "works for", "Ostrander Mills")])
""")


def _run_and_kill(point: str, model_dir: Path | None, home: Path, child: str = CHILD) -> None:
    args = [point, str(model_dir), str(home)] if model_dir is not None else [point, str(home)]
    proc = subprocess.Popen(
        [sys.executable, "-c", child, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2], env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    line = proc.stdout.readline()
    if line.strip() != "READY":
        proc.kill()
        raise AssertionError(f"child did not reach {point}: {line!r} {proc.stderr.read()[-2000:]}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _expected_fingerprints(model_dir: Path, tmp: Path) -> tuple[str, str]:
    engine = Engine.load(Settings(model=str(model_dir), home=tmp / "reference"))
    base = engine.host.fingerprint()
    engine.apply_delta("edit", "reference", {}, synthetic_delta(engine.host.model, NAMES, seed=7))
    return base, engine.host.fingerprint()


@pytest.mark.parametrize(
    ("point", "survives"),
    [("delta-written", False), ("committed", False), ("half-applied", False), ("judged", False), ("settled", True)],
)
def test_kill_during_a_change(point, survives, tiny_model_dir, tmp_path):
    base_fp, applied_fp = _expected_fingerprints(tiny_model_dir, tmp_path)
    home = tmp_path / "home"
    _run_and_kill(point, tiny_model_dir, home)

    engine = Engine.load(Settings(model=str(tiny_model_dir), home=home))
    entries = engine.history.list()
    if survives:
        assert [e.status for e in entries] == ["applied"]
        assert "guard" in entries[0].details and not entries[0].details["guard"]["reverted"]
        assert engine.host.fingerprint() == applied_fp
    elif entries:  # recorded as pending, the verdict never came: reverted at start-up
        assert [e.status for e in entries] == ["reverted"]
        assert "interrupted" in entries[0].details["guard"]["reason"]
        assert engine.host.fingerprint() == base_fp
    else:
        assert entries == []
        assert engine.host.fingerprint() == base_fp
        assert list((home / "deltas").iterdir()) == []


@pytest.mark.parametrize("point", ["ingested", "revert-committed"])
def test_kill_during_an_ingest_or_its_revert_leaves_no_fact(point, tmp_path):
    home = tmp_path / "home"
    _run_and_kill(point, None, home, MEMORY_CHILD)

    rt = tiny_runtime(home)
    assert [e.status for e in rt.engine.history.list()] == ([] if point == "ingested" else ["reverted"])
    assert rt.memory.store.ingest_ids() == [] and rt.memory.stats()["triples"] == 0
    assert not list((home / "memory" / "ingests").iterdir())
    rt.close()
