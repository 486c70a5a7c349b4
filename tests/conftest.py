"""Shared helpers: run the core on text, and find the installed console script."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from gradcli.core import differentiate, load

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SEED = "u = x*w; v = u + b; a = relu(v)"

# Hypothesis profiles: 'ci' (the default) is a fixed, derandomized set of examples sized so the
# property tests run in ~20 s on two cores (well under 90 s); HYPOTHESIS_PROFILE=long is a random
# campaign of thousands of examples per test. Tests that set max_examples themselves keep it.
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=500, derandomize=True, deadline=None,
                          suppress_health_check=_SLOW_OK, print_blob=True)
settings.register_profile("long", max_examples=4000, deadline=None,
                          suppress_health_check=_SLOW_OK, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def run(text: str, check: bool = False, symbolic: bool = False, output: str | None = None, **values):
    return differentiate(load("t.txt", text), {k: float(v) for k, v in values.items()},
                         output=output, check=check, symbolic=symbolic)


def grads(result) -> dict[str, float]:
    return {n.name: n.grad for n in result.nodes}


def values(result) -> dict[str, float]:
    return {n.name: n.value for n in result.nodes}


@pytest.fixture(scope="session")
def gradcli_exe() -> str:
    """The console script pip installed next to this interpreter (not the source tree)."""
    candidate = Path(sys.executable).parent / "gradcli"
    found = str(candidate) if candidate.exists() else shutil.which("gradcli")
    assert found, "the gradcli console script is not installed: run pip install '.[test]'"
    return found
