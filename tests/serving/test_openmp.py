"""The ``palimpsest`` command sets OpenMP's wait policy before torch loads libgomp."""

from __future__ import annotations

import os
import subprocess
import sys

from serving.core.openmp import OPENMP_DEFAULTS, apply_openmp_defaults


def test_defaults_fill_an_environment_that_sets_neither() -> None:
    environ = {"PATH": "/bin"}
    assert apply_openmp_defaults(environ) == OPENMP_DEFAULTS
    assert environ["OMP_WAIT_POLICY"] == "ACTIVE"
    assert environ["GOMP_SPINCOUNT"] == "300000"


def test_a_policy_the_user_sets_is_kept_whole() -> None:
    environ = {"OMP_WAIT_POLICY": "PASSIVE"}
    assert apply_openmp_defaults(environ) == {}
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE"}


def test_libgomp_reads_the_policy_when_the_cli_loads_torch() -> None:
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_DEFAULTS}
    env["OMP_DISPLAY_ENV"] = "VERBOSE"  # libgomp prints the values it read at load
    done = subprocess.run([sys.executable, "-c", "import serving.cli, torch"], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in done.stderr
    assert "GOMP_SPINCOUNT = '300000'" in done.stderr
