"""A tiny exam whose checks evaluate expressions in the kernel (tests of captures and of `grader rubric lint`)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

RUBRIC = {
    "id": "captures-demo", "title": "Captures", "total": 16, "tolerance": {"rtol": 1e-5, "atol": 1e-4},
    "items": [
        {"id": "1.1", "title": "a tensor", "checks": [
            {"kind": "value", "name": "values of x", "expression": "x", "points": 2},
            {"kind": "value", "name": "shape of x", "expression": "x", "compare": "shape", "points": 1,
             "visibility": "public"},
            {"kind": "value", "name": "dtype of x", "expression": "x", "compare": "dtype", "points": 1},
            {"kind": "printed", "name": "prints the first rows", "points": 2},
        ]},
        {"id": "1.2", "title": "a classifier", "checks": [
            {"kind": "parameter_count", "name": "parameters of net", "module": "net", "points": 2},
            {"kind": "value", "name": "final weights", "expression": "net.weight", "at": "notebook_end", "points": 2},
            {"kind": "model_fit", "name": "classifies the data", "model": "net", "inputs": "x", "targets": "y",
             "metric": "accuracy", "at_least": 0.9, "points": 3},
            {"kind": "model_fit", "name": "low loss", "model": "net", "inputs": "x", "targets": "y",
             "metric": "cross_entropy", "at_most": 1.0, "points": 3, "visibility": "public"},
        ]},
    ],
}

DATA = "import torch\nx = torch.arange(12.).reshape(6, 2)\ny = (x.sum(1) > 10).long()\nprint(x[:2])"
NET = ("net = torch.nn.Linear(2, 2)\nwith torch.no_grad():\n"
       "    net.weight.copy_(torch.tensor([[0., 0.], [1., 1.]]))\n    net.bias.copy_(torch.tensor([10.5, 0.]))")


def exam(*answers: str | None) -> nbformat.NotebookNode:
    cells = [new_markdown_cell("# Captures")]
    for number, answer in enumerate(answers, start=1):
        cells.append(new_markdown_cell(f"question {number}", metadata={"tags": [f"question:1.{number}"]}))
        if answer is not None:
            cells.append(new_code_cell(answer))
    return new_notebook(cells=cells)


PLACEHOLDER = "# YOUR CODE HERE"


def write_exam(folder: Path, rubric: dict = RUBRIC, solution: tuple[str | None, ...] = (DATA, NET)) -> Path:
    """The exam's rubric folder: rubric.yaml, a template with empty code cells, and the solution."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rubric.yaml").write_text(yaml.safe_dump(rubric), encoding="utf-8")
    nbformat.write(exam(*[PLACEHOLDER] * len(solution)), folder / "template.ipynb")
    nbformat.write(exam(*solution), folder / "solution.ipynb")
    return folder
