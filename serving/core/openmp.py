"""OpenMP's wait policy for a process whose model work runs on several threads.

Each thread that runs a parallel torch op keeps its own OpenMP team. Once the process holds more
OpenMP threads than CPUs, libgomp lets an idle worker spin only 100 times before it sleeps, so each
of the thousands of small parallel ops in a decode step or an edit's value step waits for a wake-up:
on 2 cores, model work off the main thread ran x1.2-1.4 slower (``bench/thread_cost.py``). The
active wait policy raises that throttled spin to 1,000; the explicit spin count keeps the spin of an
uncrowded process at libgomp's default (300,000) rather than the active policy's minutes.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

OPENMP_DEFAULTS: dict[str, str] = {"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "300000"}


def apply_openmp_defaults(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Set ``OPENMP_DEFAULTS`` unless the environment sets either variable; returns what was set.

    libgomp reads them once, when torch is first imported, so call this before that import.
    """
    if any(name in environ for name in OPENMP_DEFAULTS):
        return {}
    environ.update(OPENMP_DEFAULTS)
    return dict(OPENMP_DEFAULTS)
