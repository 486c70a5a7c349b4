"""Shared helpers: run the core on text, and find the installed console script."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from gradcli.core import differentiate, load

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SEED = "u = x*w; v = u + b; a = relu(v)"


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
