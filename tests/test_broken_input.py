"""Broken submissions through Grader.grade, without a kernel: the runner here records what it was
given and refuses to run, as a grading machine without kernels would."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from grader.grading import Grader
from grader.rubric import load_rubric
from grader.run import RunnerError
from grader.submission import discover
from tests.conftest import RUBRIC, SUBMISSIONS
from tests.evidence_builder import reference
from tests.test_unzip import make_zip

NO_KERNEL = "no kernel in this test"


class RecordingRunner:
    sandbox = None  # stands in for NotebookRunner, which would sandbox the kernel
    confinement = "none"

    def __init__(self) -> None:
        self.runs: list[tuple[Path, list[str]]] = []  # (folder or file run in, the files it held)

    def run(self, notebook, submission: Path, gpu=None, captures=None):
        files = sorted(str(p.relative_to(submission)) for p in submission.rglob("*")) if submission.is_dir() else []
        self.runs.append((submission, files))
        raise RunnerError(NO_KERNEL)


@pytest.fixture
def runner() -> RecordingRunner:
    return RecordingRunner()


@pytest.fixture
def grader(runner) -> Grader:
    return Grader(load_rubric(RUBRIC), runner, reference())


def grade_only(grader: Grader, folder: Path):
    (submission,) = discover(folder, "*.ipynb")
    return grader.grade(submission)[0]


def test_a_refused_zip_is_an_error_on_every_item(tmp_path, grader, runner):
    make_zip(tmp_path / "홍길동(2022001).zip", {"nb.ipynb": b"{}", "../evil.py": b"import os"})
    result = grade_only(grader, tmp_path)
    message = ("홍길동(2022001).zip was not unpacked: '../evil.py' would land outside its folder "
               "(absolute paths and '..' are not allowed); zip the submission folder itself and resubmit")
    assert (result.student, result.file, result.status, result.error, result.total) == (
        "2022001", "홍길동(2022001).zip", "error", message, 0.0)
    assert {(item.status, item.message, item.points) for item in result.items} == {("error", message, 0.0)}
    assert len(result.items) == 19 and runner.runs == []


def test_a_zip_is_run_from_its_unpacked_folder_which_is_removed_after(tmp_path, grader, runner):
    notebook = (SUBMISSIONS / "김민준(2022001).ipynb").read_bytes()
    make_zip(tmp_path / "김민준(2022001).zip", {"김민준(2022001)/midterm.ipynb": notebook, "김민준(2022001)/data/x.csv": b"1,2"})
    result = grade_only(grader, tmp_path)
    ((folder, files),) = runner.runs
    assert (folder.name, files) == ("김민준(2022001)", ["data", "data/x.csv", "midterm.ipynb"])
    assert not folder.exists()
    assert (result.status, result.error) == ("error", f"the notebook could not be run: {NO_KERNEL}")
    # Items that need no execution were graded from the notebook read inside the zip.
    assert [item.points for item in result.items if item.id.startswith("3.")] == [2.0] * 10


def test_a_folder_or_zip_without_a_notebook(tmp_path, grader):
    (tmp_path / "a(1)").mkdir()
    (tmp_path / "a(1)" / "answers.pdf").write_bytes(b"%PDF")
    assert grade_only(grader, tmp_path).error == "a(1) holds no .ipynb notebook"


def test_cut_stored_outputs_are_noted_for_the_ta(tmp_path, grader):
    nb = nbformat.read(SUBMISSIONS / "김민준(2022001).ipynb", as_version=4)
    code = [index for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    nb.cells[code[0]].outputs = [nbformat.v4.new_output("stream", text="x" * 1_500_000)]
    nbformat.write(nb, tmp_path / "김민준(2022001).ipynb")
    result = grade_only(grader, tmp_path)
    assert result.notes == [
        f"the stored outputs of cell {code[0] + 1} were cut when read (over 1,000,000 characters in one output, "
        "or 20,000,000 in all); grading uses the outputs of the re-run"]
