"""`grader grade` on a folder with nothing to grade: a mistyped path, a file, an empty folder or zip, a folder
without notebooks. Exit 2 before any kernel starts, and nothing written."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.submission import discover
from tests.conftest import RUBRIC


def setup_missing(root: Path) -> Path:
    (root / "dl2022-midterm").mkdir()
    (root / "dl2022-final").mkdir()
    return root / "dl2022-midtrem"


def setup_empty_folder(root: Path) -> Path:
    (root / "empty").mkdir()
    return root / "empty"


def setup_no_notebooks(root: Path) -> Path:
    folder = root / "downloads"
    folder.mkdir()
    for name in ("answers.pdf", "notes.txt", "midterm.docx"):
        (folder / name).write_bytes(b"x")
    return folder


def setup_files_and_a_folder(root: Path) -> Path:
    folder = setup_no_notebooks(root)
    (folder / "홍길동(2022001)").mkdir()
    (folder / "홍길동(2022001)" / "data.csv").write_text("1,2")
    return folder


def setup_only_what_is_never_graded(root: Path) -> Path:
    folder = root / "copied"
    (folder / "__MACOSX").mkdir(parents=True)
    (folder / ".DS_Store").write_bytes(b"x")
    (folder / "README.md").write_text("samples")
    return folder


def setup_empty_zip(root: Path) -> Path:
    zipfile.ZipFile(root / "canvas.zip", "w").close()
    return root / "canvas.zip"


def setup_zip_without_notebooks(root: Path) -> Path:
    with zipfile.ZipFile(root / "canvas.zip", "w") as archive:
        archive.writestr("kimminjun_12346_67891_answers.pdf", b"%PDF")
    return root / "canvas.zip"


def setup_a_notebook(root: Path) -> Path:
    (root / "홍길동(2022001).ipynb").write_text("{}")
    return root / "홍길동(2022001).ipynb"


def setup_a_file(root: Path) -> Path:
    (root / "grades.csv").write_text("id\n")
    return root / "grades.csv"


CASES = {
    "missing": "{path}: no such folder or zip; did you mean {root}/dl2022-midterm or {root}/dl2022-final?",
    "empty_folder": "{path} is empty: no submissions to grade",
    "no_notebooks": "{path} holds 3 files, none a notebook (.ipynb) or a zip: answers.pdf, midterm.docx, notes.txt",
    "files_and_a_folder": "{path} holds 3 files and 1 folder, none of them a notebook (.ipynb), a zip or a folder "
                          "holding a notebook: answers.pdf, midterm.docx, notes.txt, 홍길동(2022001)",
    "only_what_is_never_graded": "{path} holds no submissions, only .DS_Store, README.md, __MACOSX (hidden files, "
                                 "READMEs, macOS's and Jupyter's own folders are not graded)",
    "empty_zip": "{path} is empty: no submissions to grade",
    "zip_without_notebooks": "{path} holds 1 file, none a notebook (.ipynb) or a zip: "
                             "kimminjun_12346_67891_answers.pdf",
    "a_notebook": "{path} is a notebook, not a folder of submissions: put it in a folder of its own and grade that "
                  "folder",
    "a_file": "{path} is a file, not a folder of submissions nor a zip of one",
}


@pytest.mark.parametrize("executor", ["local", "slurm"])
@pytest.mark.parametrize("case", CASES)
def test_nothing_to_grade_exits_2_before_anything_runs(tmp_path, monkeypatch, case, executor):
    monkeypatch.setattr("grader.cli.grade.slurm_cluster.available", lambda: None)  # refused before Slurm is asked
    root = tmp_path / "given"
    root.mkdir()
    path = globals()[f"setup_{case}"](root)
    out, cache = tmp_path / "out", tmp_path / "cache"
    done = CliRunner().invoke(app, ["grade", str(path), "--rubric", str(RUBRIC), "--out", str(out),
                                    "--cache-dir", str(cache), "--executor", executor])
    assert done.exit_code == 2, done.output
    assert " ".join(done.output.split()) == "error: " + CASES[case].format(path=path, root=root)
    assert not out.exists() and not cache.exists()  # no gradebook, no reference run, no kernel


def test_a_missing_folder_whose_parent_is_missing_too(tmp_path):
    path = tmp_path / "nowhere" / "submissions"
    done = CliRunner().invoke(app, ["grade", str(path), "--rubric", str(RUBRIC), "--out", str(tmp_path / "out")])
    assert done.exit_code == 2
    assert " ".join(done.output.split()) == (
        f"error: {path}: no such folder or zip (there is no folder {tmp_path / 'nowhere'} either)")


def test_a_missing_folder_with_nothing_like_it_beside_it(tmp_path):
    (tmp_path / "rubrics").mkdir()
    done = CliRunner().invoke(app, ["grade", str(tmp_path / "x"), "--rubric", str(RUBRIC), "--out",
                                    str(tmp_path / "out")])
    assert " ".join(done.output.split()) == f"error: {tmp_path / 'x'}: no such folder or zip"


def test_one_notebook_among_other_files_is_graded(tmp_path):
    """The refusal is for folders with nothing to grade: one notebook (or zip) is enough to go on."""
    from grader.submission import nothing_to_grade

    setup_no_notebooks(tmp_path)
    folder = tmp_path / "downloads"
    (folder / "김민준(2022001).ipynb").write_text("{}")
    assert nothing_to_grade(folder, discover(folder, "*.ipynb")) is None
    (folder / "김민준(2022001).ipynb").unlink()
    zipfile.ZipFile(folder / "이서연(2022002).zip", "w").close()  # told to the student: "holds no notebook"
    assert nothing_to_grade(folder, discover(folder, "*.ipynb")) is None
