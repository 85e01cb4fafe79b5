"""What the rubric asks the kernel to evaluate, and after which cell.

`value`, `parameter_count` and `model_fit` checks name expressions (`yhat[:8]`,
`rnn`, `lambda x: head(rnn(x)[0])`). The grader turns them into a capture plan:
for each cell run of the notebook (the probe counts runs), the expressions to
evaluate right after that run. The plan travels to the kernel as a JSON file
with the model inputs as .npy files beside it; the probe writes each result
back as a `capture` event. Nothing the kernel returns is executed: values come
back as numbers, and the grader compares them.

A capture runs after the last code cell of its item (`at: item_end`), or after
the notebook's last cell (`at: notebook_end`). An item without code cells gets
no capture, and its checks say so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from grader.execution import planned_runs
from grader.notebook.locate import Layout
from grader.rubric.models import CAPTURE_KINDS, Check, Item, ModelFitCheck, ParameterCountCheck, TensorCheck, ValueCheck

PLAN_VERSION = 1
PLAN_FILE = "captures.json"


def capture_id(item: Item, check_index: int) -> str:
    """The capture of an item's check, e.g. `4.2/1` (its checks counted from 0)."""
    return f"{item.id}/{check_index}"


def inputs_id(item: Item, check_index: int) -> str:
    return f"{capture_id(item, check_index)}/inputs"


def targets_id(item: Item, check_index: int) -> str:
    return f"{capture_id(item, check_index)}/targets"


@dataclass(frozen=True)
class CaptureSpec:
    """One evaluation in the kernel: `what` of `expression` (for predictions: `expression` is the model,
    applied to the named input array or to `inputs_expression` evaluated in the same kernel)."""

    id: str
    what: str  # "value" | "parameter_count" | "predictions" | "module_output"
    expression: str  # "" for module_output, which finds its module by class
    inputs_array: str | None = None
    inputs_expression: str | None = None
    # module_output: the class name of the module to evaluate (the latest built); None: the latest network of a class
    # the notebook wrote that no other module holds
    module_class: str | None = None

    def plain(self) -> dict[str, str]:
        return {key: value for key, value in vars(self).items() if value is not None}


@dataclass
class CapturePlan:
    after_run: dict[int, list[CaptureSpec]] = field(default_factory=dict)
    inputs: dict[str, np.ndarray] = field(default_factory=dict)  # array name -> the model inputs it holds
    # A replay from a student's state: cell run -> {parameter key: array name} set before it (grader.replay).
    before_run: dict[int, dict[str, str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.after_run or self.before_run)

    def set_before(self, run: int, values: dict[str, np.ndarray]) -> None:
        for key, value in values.items():
            name = f"inputs-{len(self.inputs) + 1}.npy"
            self.inputs[name] = value
            self.before_run.setdefault(run, {})[key] = name

    def add(self, run: int, spec: CaptureSpec) -> None:
        self.after_run.setdefault(run, []).append(spec)

    def write(self, folder: Path) -> Path:
        """The plan file (and its input arrays beside it) in `folder`, for the probe to read at start."""
        for name, array in self.inputs.items():
            np.save(folder / name, np.ascontiguousarray(array), allow_pickle=False)
        document = {"version": PLAN_VERSION,
                    "after_run": {str(run): [spec.plain() for spec in specs] for run, specs in self.after_run.items()},
                    "before_run": {str(run): values for run, values in self.before_run.items()}}
        path = folder / PLAN_FILE
        path.write_text(json.dumps(document), encoding="utf-8")
        return path


def plan_captures(items: list[Item], nb: nbformat.NotebookNode, layout: Layout,
                  reference_inputs: dict[str, np.ndarray] | None,
                  first_inputs: dict[str, tuple[str | None, np.ndarray]] | None = None) -> CapturePlan:
    """The captures of `items` for a run of `nb` top to bottom.

    reference_inputs: for a student's run, the reference's captured model inputs by capture id (a
    `model_fit` check without them captures nothing); None for the reference's own run, which
    evaluates its inputs and targets itself. first_inputs: for a student's run, by the capture id of a `tensor`
    check, the class of the reference's trained module and the input of its first forward pass: the student's
    latest module of that class is evaluated on it after the item, for a network that never computed a prediction."""
    runs = {cell: run for run, cell in planned_runs(nb).items()}
    last_run = max(runs.values(), default=None)
    plan = CapturePlan()
    for item in items:
        if item.void:  # graded for no one: nothing to evaluate
            continue
        item_runs = [runs[index] for index in layout.regions.get(item.id, []) if index in runs]
        for index, check in enumerate(item.checks):
            if isinstance(check, TensorCheck) and item_runs and capture_id(item, index) in (first_inputs or {}):
                module_class, inputs = (first_inputs or {})[capture_id(item, index)]
                name = f"inputs-{len(plan.inputs) + 1}.npy"
                plan.inputs[name] = inputs
                plan.add(item_runs[-1], CaptureSpec(capture_id(item, index), "module_output", "", inputs_array=name,
                                                    module_class=module_class))
            if check.kind not in CAPTURE_KINDS or not item_runs:
                continue
            run = last_run if check.at == "notebook_end" else item_runs[-1]
            for spec in _specs(item, index, check, reference_inputs, plan):
                plan.add(run, spec)
    return plan


def _specs(item: Item, index: int, check: Check, reference_inputs: dict[str, np.ndarray] | None,
           plan: CapturePlan) -> list[CaptureSpec]:
    ident = capture_id(item, index)
    if isinstance(check, ValueCheck):
        return [CaptureSpec(ident, "value", check.expression)]
    if isinstance(check, ParameterCountCheck):
        return [CaptureSpec(ident, "parameter_count", check.module)]
    assert isinstance(check, ModelFitCheck)
    if reference_inputs is None:  # the reference: its own inputs, targets and predictions
        return [CaptureSpec(inputs_id(item, index), "value", check.inputs),
                CaptureSpec(targets_id(item, index), "value", check.targets),
                CaptureSpec(ident, "predictions", check.model, inputs_expression=check.inputs)]
    inputs = reference_inputs.get(inputs_id(item, index))
    if inputs is None:
        return []
    name = f"inputs-{len(plan.inputs) + 1}.npy"
    plan.inputs[name] = inputs
    return [CaptureSpec(ident, "predictions", check.model, inputs_array=name)]
