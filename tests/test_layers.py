"""The pure layers stay light: importing them starts no kernel machinery and no plotting library.

Each import runs in a fresh interpreter: this test process has long since loaded everything."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# What checks (and the capture planning they read) must not load, even through another module.
KERNELS_AND_PLOTS = ("nbclient", "jupyter_client", "matplotlib", "grader.run")


def loaded_by(module: str) -> set[str]:
    """The modules in sys.modules after importing `module` in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"],
                          capture_output=True, text=True, check=True, timeout=120)
    return set(json.loads(done.stdout))


@pytest.mark.parametrize(("module", "forbidden"), [
    ("grader.checks", KERNELS_AND_PLOTS),
    ("grader.checks.items", KERNELS_AND_PLOTS),
    ("grader.captures", KERNELS_AND_PLOTS),
    ("grader.figures", ("matplotlib",)),  # imported where a figure is drawn: most rubrics draw none
    ("grader.grading", ("matplotlib", "grader.report")),  # results flow to reports through the gradebook
])
def test_importing_loads_none_of(module: str, forbidden: tuple[str, ...]) -> None:
    loaded = loaded_by(module)
    assert module in loaded
    assert [name for name in forbidden if name in loaded] == []
