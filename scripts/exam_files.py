"""What the builders of the exams written only as data share (build_final.py, build_cnn.py): the master notebook's
shape, running a notebook as a student does before submitting, and writing the rubric folder's notebooks and the
samples."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_notebook

from grader.author.assign import BEGIN_MARKER, END_MARKER, assign


def exam_notebook(cells: list) -> nbformat.NotebookNode:
    """A notebook of `cells` with a python3 kernelspec and cell ids made from positions, so that a rebuild writes
    the same files."""
    nb = new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    for index, cell in enumerate(nb.cells):
        cell.id = f"c{index:02d}"
    return nb


def marked(body: str, setup: str | None = None) -> str:
    """A solution between the markers, after the lines given to the students (`setup`)."""
    return "\n".join(([setup] if setup else []) + [BEGIN_MARKER, body, END_MARKER])


def execute(nb: nbformat.NotebookNode, timeout: int = 300) -> nbformat.NotebookNode:
    """Run like a student would before submitting, errors and all (plain kernel, no grader)."""
    nb = copy.deepcopy(nb)
    NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=timeout, record_timing=False).execute()
    return nb


def write_exam(rubric: Path, submissions: Path, master: nbformat.NotebookNode,
               samples: Callable[[nbformat.NotebookNode], dict[str, nbformat.NotebookNode]]) -> None:
    """The executed master, the template and solution `grader assign` makes from it (rubric.yaml is kept as
    written), and the samples made from the template, each executed, in place of the folder's old ones (its
    README.md is kept)."""
    rubric.mkdir(parents=True, exist_ok=True)
    nbformat.write(execute(master), rubric / "master.ipynb")
    assign(rubric / "master.ipynb", rubric)
    template_nb = nbformat.read(rubric / "template.ipynb", as_version=4)
    submissions.mkdir(parents=True, exist_ok=True)
    for old in submissions.iterdir():
        if old.name != "README.md":
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    for name, sample in samples(template_nb).items():
        print("executing", name, flush=True)
        nbformat.write(execute(sample), submissions / name)
