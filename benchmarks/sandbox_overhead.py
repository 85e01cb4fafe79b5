"""What the sandbox costs per notebook: the same tiny notebook run sandboxed and
bare, interleaved in one process, reported as medians and their ratio.

    sudo .venv/bin/python benchmarks/sandbox_overhead.py [ROUNDS]

Timings on shared machines are noisy; the ratio of interleaved runs is the
number to compare, not the seconds.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from time import monotonic

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from grader.run import NotebookRunner
from grader.run.sandbox import Limits, SandboxHost

CELLS = ["import torch", "w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))\nopt = torch.optim.SGD([w], lr=0.1)",
         "(w ** 2).sum().backward(); opt.step(); print(w.data)"]


def main(rounds: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    cache = folder / "cache"
    nb = new_notebook(cells=[new_code_cell(source) for source in CELLS])
    path = folder / "nb.ipynb"
    nbformat.write(nb, path)
    started = monotonic()
    host = SandboxHost.prepare(sys.executable, Limits(), cache)
    prepare_s = monotonic() - started
    runners = {
        "sandboxed": NotebookRunner(cell_timeout_s=60, notebook_timeout_s=120, cache_dir=cache, sandbox=host),
        "bare": NotebookRunner(cell_timeout_s=60, notebook_timeout_s=120, cache_dir=cache, sandbox=None),
    }
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, runner in runners.items():
            began = monotonic()
            execution = runner.run(nb, path)
            assert [cell.status for cell in execution.cells] == ["ok"] * len(CELLS), execution.cells
            assert len(execution.evidence.steps) == 1
            times[name].append(monotonic() - began)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"sandbox host check (once per batch): {prepare_s:.2f} s")
    for name, values in times.items():
        print(f"{name:>9}: median {medians[name]:.2f} s per notebook over {len(values)} runs "
              f"(min {min(values):.2f}, max {max(values):.2f})")
    print(f"sandboxed / bare: {medians['sandboxed'] / medians['bare']:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
