"""Execute one notebook top to bottom in a fresh grading kernel.

Every code cell runs even when earlier ones fail (a typo in (2) must not cost
(3)). A cell that runs past its limit is interrupted and marked `timeout`; a
kernel that dies, ignores the interrupt or exhausts the notebook's budget
stops the run, and the cells after it are `not-run`. Whatever the probe
recorded before that point is kept.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import copy
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic
from typing import Literal

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from grader.evidence import Evidence, EvidenceError, read_evidence
from grader.results import CellRun
from grader.run.kernel import GradingKernelManager
from grader.run.workspace import workspace

# How long a kernel may take to answer the interrupt sent at a cell's time limit.
INTERRUPT_GRACE_S = 10.0
STARTUP_TIMEOUT_S = 60

StopReason = Literal["kernel-died", "budget", "unresponsive"]


class RunnerError(Exception):
    """The kernel could not be started: a problem of the grading machine, not of the submission."""


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

    def status_of(self, index: int) -> str | None:
        return next((cell.status for cell in self.cells if cell.cell == index + 1), None)

    def cell_of_run(self, run: int) -> int | None:
        return self.run_cells.get(run)


@dataclass(frozen=True)
class NotebookRunner:
    """Runs notebooks with the probe loaded. One instance serves a whole batch.

    cell_timeout_s: a cell running longer is interrupted (status `timeout`).
    notebook_timeout_s: total budget; when spent, the remaining cells are not run.
    cache_dir: writable cache shared by kernels (matplotlib's font cache).
    python: the interpreter of the kernel; it needs ipykernel and grader installed.
    """

    cell_timeout_s: float
    notebook_timeout_s: float
    cache_dir: Path
    python: str = sys.executable

    def run(self, notebook: nbformat.NotebookNode, submission: Path) -> Execution:
        return asyncio.run(self._run(notebook, submission))

    async def _run(self, notebook: nbformat.NotebookNode, submission: Path) -> Execution:
        nb = copy.deepcopy(notebook)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        (self.cache_dir / "matplotlib").mkdir(parents=True, exist_ok=True)
        with workspace(submission) as ws:
            km = GradingKernelManager(kernel_name="python3", python=self.python)
            client = NotebookClient(
                nb, km=km, allow_errors=True, interrupt_on_timeout=True, startup_timeout=STARTUP_TIMEOUT_S
            )
            log_path = ws.root / "kernel.log"
            started = monotonic()
            with log_path.open("wb") as log:
                async with contextlib.AsyncExitStack() as stack:
                    stack.push_async_callback(_shutdown, client, km)
                    try:
                        await stack.enter_async_context(client.async_setup_kernel(
                            env=ws.kernel_env(Path(self.python).parent, self.cache_dir),
                            cwd=str(ws.work),
                            stdout=subprocess.DEVNULL,
                            stderr=log,  # students' stray stderr stays out of the TA's console
                        ))
                    except (RuntimeError, TimeoutError) as err:
                        raise RunnerError(f"the kernel did not start: {err}\n{_tail(log_path)}") from None
                    execution = await self._run_cells(client, nb)
            try:
                execution.evidence = read_evidence(ws.evidence)
            except EvidenceError as err:
                execution.evidence_error = str(err)
            execution.seconds = monotonic() - started
            return execution

    async def _run_cells(self, client: NotebookClient, nb: nbformat.NotebookNode) -> Execution:
        execution = Execution(notebook=nb, cells=[], evidence=None, evidence_error=None, stopped=None, stopped_at=None)
        started = monotonic()  # the budget is the student's cells' time, not the kernel's start-up
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            remaining = self.notebook_timeout_s - (monotonic() - started)
            if execution.stopped is None and remaining <= 0:
                execution.stopped, execution.stopped_at = "budget", index
            if execution.stopped is not None:
                execution.cells.append(CellRun(cell=index + 1, status="not-run"))
                continue
            limit = min(self.cell_timeout_s, remaining)
            client.timeout = max(1, round(limit))
            run = len(execution.run_cells) + 1
            execution.run_cells[run] = index
            began = monotonic()
            cell_task = asyncio.ensure_future(client.async_execute_cell(cell, index, execution_count=run))
            done, _ = await asyncio.wait({cell_task}, timeout=limit + INTERRUPT_GRACE_S)
            if not done:
                cell_task.cancel()
                with contextlib.suppress(BaseException):  # nbclient turns the cancel into DeadKernelError
                    await cell_task
                execution.cells.append(CellRun(cell=index + 1, status="timeout", seconds=monotonic() - began,
                                               error=f"still running after {limit:.0f} s and did not stop when interrupted"))
                execution.stopped, execution.stopped_at = "unresponsive", index
                continue
            if isinstance(cell_task.exception(), DeadKernelError):
                execution.cells.append(CellRun(cell=index + 1, status="died", seconds=monotonic() - began,
                                               error="the kernel died while running this cell"))
                execution.stopped, execution.stopped_at = "kernel-died", index
                continue
            cell_task.result()  # anything else nbclient raised is a grader bug: let it surface
            seconds = monotonic() - began
            error = _first_error(cell)
            if error is not None and error.startswith("KeyboardInterrupt") and seconds >= limit:
                budget_spent = limit < self.cell_timeout_s
                message = "the notebook's time budget ran out in this cell" if budget_spent else f"stopped after the {limit:.0f} s limit per cell"
                execution.cells.append(CellRun(cell=index + 1, status="timeout", seconds=seconds, error=message))
                if budget_spent:
                    execution.stopped, execution.stopped_at = "budget", index
            else:
                execution.cells.append(CellRun(cell=index + 1, status="error" if error else "ok", seconds=seconds, error=error))
        return execution


def _first_error(cell: nbformat.NotebookNode) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = str(output.get("evalue", "")).strip().splitlines()
            return f"{output.get('ename', 'Error')}: {value[0] if value else ''}".rstrip(": ")
    return None


async def _shutdown(client: NotebookClient, km: GradingKernelManager) -> None:
    # nbclient leaves its at-exit cleanup registered when the kernel fails to start.
    atexit.unregister(client._cleanup_kernel)
    if client.kc is not None:
        client.kc.stop_channels()
    if km.has_kernel:
        await km.shutdown_kernel(now=True)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
