"""A notebook's run as plain data: what the runner hands back, and which probe run is which cell.

grader.run fills it in; captures, checks and grading read it without importing the runner and its kernels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import nbformat

from grader.evidence import Evidence
from grader.results import CellRun

StopReason = Literal["kernel-died", "budget", "unresponsive"]


@dataclass
class Execution:
    notebook: nbformat.NotebookNode  # the executed copy, fresh outputs only
    cells: list[CellRun]  # one per non-empty code cell
    evidence: Evidence | None
    evidence_error: str | None
    stopped: StopReason | None
    stopped_at: int | None  # 0-based index of the cell during which the run stopped
    run_cells: dict[int, int] = field(default_factory=dict)  # probe run ordinal -> 0-based cell index
    seconds: float = 0.0
    limits_hit: list[str] = field(default_factory=list)  # "memory", "processes": what the sandbox stopped
    kernel_uid: int | None = None  # the host uid the kernel ran as when confined (sandbox or uid confinement)

    def status_of(self, index: int) -> str | None:
        return next((cell.status for cell in self.cells if cell.cell == index + 1), None)

    def cell_of_run(self, run: int) -> int | None:
        return self.run_cells.get(run)


def planned_runs(nb: nbformat.NotebookNode) -> dict[int, int]:
    """Probe run -> 0-based cell for a notebook run top to bottom: the runner sends every non-empty
    code cell in order, and the probe counts each one it starts."""
    cells = [index for index, cell in enumerate(nb.cells) if cell.cell_type == "code" and cell.source.strip()]
    return {run: index for run, index in enumerate(cells, start=1)}
