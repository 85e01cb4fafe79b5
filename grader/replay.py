"""Follow-through credit: the reference's procedure for an item, replayed from the student's own state.

A student whose (3) went wrong (six Adam updates instead of five) and whose (4) then applies the right procedure
(ten SGD updates) should not lose (4) too, when the rubric says `follow_through`. The reference solution is run
again up to the item, with the cells of other problems left out, and just before the item's first cell the
parameters the reference's item trains are set to the values the student's parameters had at that point (paired
in order, by shape, as updates are). What the replay computes in the item is what the student should have got from
their own start; the item's follow-through checks compare the student with it.

Only parameters carry over: an optimizer's state (Adam's moments) is the reference's in the replay. A replay whose
unchanged start does not reproduce the reference's item (its cells depend on a problem left out) is refused, and
the checks say follow-through was not available.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass

import nbformat
import numpy as np

from grader.captures import CapturePlan, plan_captures
from grader.checks.context import Trace
from grader.evidence.model import Evidence
from grader.evidence.trace import phases
from grader.evidence.training import steps_in
from grader.execution import Execution, planned_runs
from grader.notebook.locate import Layout, locate
from grader.rubric import Item, LoadedRubric, Tolerance
from grader.run import RunnerError

# Runs a notebook as the reference's solution runs, with a capture plan: the replay's kernel.
RunSolution = Callable[[nbformat.NotebookNode, CapturePlan], Execution]


@dataclass(frozen=True)
class Replayable:
    """What a replay of one item needs: the notebook it runs and where the item's state goes in."""

    notebook: nbformat.NotebookNode  # the solution up to the item, other problems' cells emptied
    first_run: int  # the probe run of the item's first code cell
    parameters: list[tuple[str, tuple[int, ...]]]  # the replay's keys and shapes of what the item trains, in order
    start: list[np.ndarray | None]  # their values at the item's start when nothing is put in (the reference's)
    skipped_phases: int  # reference phases of the emptied cells: the replay's phases are numbered after them


def replay_notebook(solution: nbformat.NotebookNode, layout: Layout, item: Item) -> nbformat.NotebookNode:
    """The solution's cells up to the item's last, with the code of other problems' items emptied (cell numbers
    stay those of the solution, so the item is found in the same cells)."""
    cells = layout.regions[item.id]
    notebook = nbformat.from_dict(solution)
    notebook.cells = notebook.cells[: max(cells) + 1]
    other = {index for item_id, region in layout.regions.items() if item_id.split(".")[0] != str(item.problem)
             for index in region}
    for index in other:
        if index < len(notebook.cells) and notebook.cells[index].cell_type == "code":
            notebook.cells[index].source = ""
    return notebook


def state_at(evidence: Evidence, key: str, run: int) -> np.ndarray | None:
    """A parameter's value just before `run`: the last value recorded of it in an earlier run (after an update, or
    at a cell's end)."""
    recorded = [(step.seq, param.after) for step in evidence.steps if step.run < run
                for param in step.params if param.key == key]
    recorded += [(snapshot.seq, param.value) for snapshot in evidence.snapshots if snapshot.run < run
                 for param in snapshot.params if param.key == key]
    return max(recorded, key=lambda entry: entry[0])[1].array() if recorded else None


def trained_at_start(trace: Trace, item_id: str) -> list[tuple[str, tuple[int, ...], np.ndarray | None]] | None:
    """The parameters the item's first update changes: key, shape, and value just before the item's first cell
    (for a parameter made in the item, its value before that update)."""
    runs = trace.item_runs(item_id)
    steps = steps_in(trace.evidence, runs)
    if not steps:
        return None
    first = min(runs)
    found = []
    for param in steps[0].params:
        value = state_at(trace.evidence, param.key, first)
        found.append((param.key, tuple(param.shape), value if value is not None else param.before.array()))
    return found


class FollowThrough:
    """Replays items from students' states; the replay of each item unchanged is run once and kept."""

    def __init__(self, rubric: LoadedRubric, reference: Trace, solution: nbformat.NotebookNode,
                 run: RunSolution) -> None:
        """reference: the reference's trace with its regions; solution: the solution notebook as it ran."""
        self.rubric = rubric
        self.reference = reference
        self.solution = solution
        self.layout = locate(solution, [item.id for item in rubric.spec.items])
        self.run = run
        self._bases: dict[str, Replayable | str] = {}
        self._lock = threading.Lock()

    def __call__(self, item: Item, student: Trace) -> Trace | str:
        """The reference's trace replayed from the student's state at the item's start, or why there is none."""
        base = self._base(item)
        if isinstance(base, str):
            return base
        theirs = trained_at_start(student, item.id)
        if theirs is None:
            return "no optimizer update was made in this item's cells"
        values = _paired(base.parameters, [(shape, value) for _, shape, value in theirs])
        if values is None:
            return ("the item's updates change parameters of shapes "
                    f"{[list(shape) for _, shape, _ in theirs]}, not those of the question's procedure")
        tolerance = self.rubric.spec.tolerance
        if all(start is not None and start.shape == mine.shape
               and np.allclose(mine, start, rtol=tolerance.rtol, atol=tolerance.atol)
               for mine, start in zip(values, base.start)):
            return "the item started from the expected state, so its procedure was compared with the reference as it is"
        put_in = dict(zip((key for key, _ in base.parameters), values))
        execution = self._replay(base.notebook, (base.first_run, put_in))
        if isinstance(execution, str):
            return execution
        return self._trace(execution, base)

    def _base(self, item: Item) -> Replayable | str:
        with self._lock:
            if item.id not in self._bases:
                self._bases[item.id] = self._replayable(item)
            return self._bases[item.id]

    def _replayable(self, item: Item) -> Replayable | str:
        notebook = replay_notebook(self.solution, self.layout, item)
        execution = self._replay(notebook, None)
        if isinstance(execution, str):
            return execution
        runs = planned_runs(notebook)
        assert execution.evidence is not None  # _replay returns an execution only with its evidence
        trace = dataclasses.replace(Trace.of(execution.evidence, runs), regions=self.layout.regions)
        start = trained_at_start(trace, item.id)
        expected = steps_in(self.reference.evidence, self.reference.item_runs(item.id))
        got = steps_in(trace.evidence, trace.item_runs(item.id))
        if start is None or not _same_updates(got, expected, self.rubric.spec.tolerance):
            return (f"the solution's cells for item {item.id}, run without the other problems' cells, do not "
                    "reproduce the reference's updates (they depend on a cell left out)")
        skipped = {index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
                   and not cell.source.strip() and self.solution.cells[index].source.strip()}
        skipped_runs = {run for run, index in self.reference.run_cells.items() if index in skipped}
        skipped_phases = sum(1 for phase in self.reference.phases if phase.steps[0].run in skipped_runs)
        first_run = min(trace.item_runs(item.id))
        return Replayable(notebook, first_run, [(key, shape) for key, shape, _ in start],
                          [value for _, _, value in start], skipped_phases)

    def _replay(self, notebook: nbformat.NotebookNode,
                put_in: tuple[int, dict[str, np.ndarray]] | None) -> Execution | str:
        """A run of the replay notebook, with `put_in`'s parameter values set before its cell run; or why it
        failed."""
        plan = plan_captures(self.rubric.spec.items, notebook, self.layout, reference_inputs=None)
        if put_in is not None:
            plan.set_before(*put_in)
        try:
            execution = self.run(notebook, plan)
        except RunnerError as err:
            return f"the replay of the solution could not run: {err}"
        failed = [f"cell {cell.cell}: {cell.error or cell.status}" for cell in execution.cells if cell.status != "ok"]
        if failed:
            return "the replay of the solution from this state failed: " + "; ".join(failed)
        if execution.evidence is None:
            return f"the replay recorded nothing: {execution.evidence_error}"
        if put_in is not None and any(event.missing for event in execution.evidence.injected):
            return "the replay could not put the item's start state in place"
        return execution

    def _trace(self, execution: Execution, base: Replayable) -> Trace:
        assert execution.evidence is not None
        replayed = [dataclasses.replace(phase, number=phase.number + base.skipped_phases)
                    for phase in phases(execution.evidence)]
        return Trace(evidence=execution.evidence, phases=self.reference.phases[: base.skipped_phases] + replayed,
                     run_cells=planned_runs(base.notebook), regions=self.layout.regions)


def _paired(wanted: list[tuple[str, tuple[int, ...]]],
            theirs: list[tuple[tuple[int, ...], np.ndarray | None]]) -> list[np.ndarray] | None:
    """The student's values for the replay's parameters, paired by shape in order (as updates are compared)."""
    unused = list(theirs)
    values = []
    for _, shape in wanted:
        found = next((entry for entry in unused if entry[0] == shape and entry[1] is not None), None)
        if found is None:
            return None
        unused.remove(found)
        values.append(np.asarray(found[1]))
    return values


def _same_updates(got: list, expected: list, tolerance: Tolerance) -> bool:
    if len(got) != len(expected):
        return False
    for mine, theirs in zip(got, expected):
        for a, b in zip(mine.params, theirs.params):
            x, y = a.after.array(), b.after.array()
            if x is None or y is None or x.shape != y.shape or not np.allclose(x, y, rtol=tolerance.rtol,
                                                                               atol=tolerance.atol):
                return False
    return True

