"""Expressions the rubric names, evaluated in sandboxed kernels after an item's cells: `value`,
`parameter_count`, `model_fit` and `printed` checks on a tiny exam written here."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader.grading import Grader
from grader.reference import reference_run
from grader.rubric import load_rubric
from grader.run import NotebookRunner
from grader.submission import discover
from tests.capture_exam import DATA, NET, exam, write_exam

pytestmark = pytest.mark.notebooks

@pytest.fixture(scope="module")
def grader(tmp_path_factory, sandbox_host, warm_kernels, cache_dir) -> Grader:
    folder = write_exam(tmp_path_factory.mktemp("captures-demo"))
    runner = NotebookRunner(cell_timeout_s=30, notebook_timeout_s=60, cache_dir=cache_dir, sandbox=sandbox_host,
                            warm=warm_kernels)
    loaded = load_rubric(folder)
    reference = reference_run(loaded, runner, cache_dir)
    return Grader(loaded, runner, reference.evidence, reference.notebook)


def grade(grader: Grader, tmp_path: Path, nb: nbformat.NotebookNode) -> dict[str, list[tuple[str, float, str]]]:
    folder = tmp_path / "batch"
    folder.mkdir()
    nbformat.write(nb, folder / "홍길동(2023001).ipynb")
    (submission,) = discover(folder, "*.ipynb")
    result, _ = grader.grade(submission)
    return {item.id: [(check.name, check.points, check.message) for check in item.checks] for item in result.items}


def test_the_reference_earns_full_marks_on_its_own_captures(grader, tmp_path):
    graded = grade(grader, tmp_path, exam(DATA, NET))
    assert {item: sum(points for _, points, _ in checks) for item, checks in graded.items()} == {"1.1": 6, "1.2": 10}


def test_wrong_values_shapes_types_and_models_each_cost_their_points(grader, tmp_path):
    other_data = ("import torch\nx = torch.arange(12, dtype=torch.float64).reshape(6, 2) + 1\n"
                  "y = (x.sum(1) > 10).long()\nprint(x[:2].tolist())")
    wider = "net = torch.nn.Linear(2, 3)\ntorch.nn.init.zeros_(net.weight)\ntorch.nn.init.zeros_(net.bias)"
    assert grade(grader, tmp_path, exam(other_data, wider)) == {
        "1.1": [("values of x", 0.0, "value: 12 of 12 value(s) outside the tolerance"),
                ("shape of x", 1.0, ""),
                ("dtype of x", 0.0, "the value has dtype float64, which is not what is asked"),
                ("prints the first rows", 0.0, "1 of the 1 value(s) asked for were not printed")],
        "1.2": [("parameters of net", 0.0, "the module has 9 parameters"),
                ("final weights", 0.0, "the value has shape [3, 2], which is not the shape asked for"),
                ("classifies the data", 0.0, "the model's accuracy on the grader's data is not high enough"),
                ("low loss", 0.0, "cross-entropy loss of `net` on the grader's 6 inputs is 1.099; at most 1 is needed")],
    }


def test_a_missing_variable_and_an_unanswered_item_say_what_is_missing(grader, tmp_path):
    renamed = DATA.replace("x", "X").replace("print(X[:2])", "print(X[:2])")
    assert grade(grader, tmp_path, exam(renamed, None)) == {
        "1.1": [("values of x", 0.0, "the value could not be evaluated after cell 3: NameError: name 'x' is not defined"),
                ("shape of x", 0.0, "`x` could not be evaluated after cell 3: NameError: name 'x' is not defined"),
                ("dtype of x", 0.0, "the value could not be evaluated after cell 3: NameError: name 'x' is not defined"),
                ("prints the first rows", 2.0, "")],
        "1.2": [("parameters of net", 0.0, "no code cell answers this item, so the parameter count could not be evaluated"),
                ("final weights", 0.0, "no code cell answers this item, so the value could not be evaluated"),
                ("classifies the data", 0.0,
                 "no code cell answers this item, so the model on the grader's data could not be evaluated"),
                ("low loss", 0.0,
                 "no code cell answers this item, so `net` on the grader's data could not be evaluated")],
    }


def test_the_latest_network_of_the_notebooks_own_class_is_evaluated_whatever_its_name(tmp_path):
    from grader.captures import CapturePlan, CaptureSpec

    nb = exam("import torch\nclass Inner(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
              "        self.w = torch.nn.Parameter(torch.tensor([2.0]))\n    def forward(self, x):\n"
              "        return self.w * x\nclass Outer(torch.nn.Module):\n    def __init__(self):\n"
              "        super().__init__()\n        self.inner = Inner()\n    def forward(self, x):\n"
              "        return self.inner(x) + 1\nmine = Outer()\nlayer = torch.nn.Linear(1, 1)")
    plan = CapturePlan()
    plan.inputs["inputs-1.npy"] = np.array([1.0, 3.0])
    plan.add(1, CaptureSpec("1.1/0", "module_output", "", inputs_array="inputs-1.npy"))
    runner = NotebookRunner(cell_timeout_s=30, notebook_timeout_s=60, cache_dir=tmp_path / "cache", sandbox=None)
    evidence = runner.run(nb, tmp_path, None, plan).evidence
    capture = evidence.captures["1.1/0"]
    # Outer holds Inner, so Outer is the network; the library's Linear is not a class of the notebook's own.
    assert (capture.error, evidence.array(capture.array).tolist()) == (None, [3.0, 7.0])
    assert not any(forward.run == 1 for forward in evidence.forwards)  # the grader's evaluation records nothing
