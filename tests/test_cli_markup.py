"""User data printed by the commands comes out as written: Rich reads `[bold]…[/]` as markup and `:smile:` or the
`:M:` of a roster's column `Lateness (H:M:S)` as emoji codes, unless told not to."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from grader.cli import app
from tests import review_book

WEIRD = "a[b]c :smile: [bold]x \\[y]"  # as a user may name a file or folder (no `[/]`: `/` is in no file name)


def said(done) -> str:
    return " ".join(done.output.split())


@pytest.fixture
def run_folder(tmp_path):
    """A grading run's folder, itself named like that, with a gradebook of four students."""
    folder = tmp_path / f"out {WEIRD}"
    folder.mkdir()
    review_book.build(folder / "gradebook.sqlite")
    return folder


def test_file_and_folder_names_in_an_error(tmp_path):
    folder = tmp_path / WEIRD
    folder.mkdir()
    (folder / f"{WEIRD}.txt").write_text("not a notebook")
    done = CliRunner().invoke(app, ["grade", str(folder), "--rubric", str(review_book.RUBRIC), "--out",
                                    str(tmp_path / "out")])
    assert done.exit_code == 2
    assert said(done) == f"error: {folder} holds 1 file, none a notebook (.ipynb) or a zip: {WEIRD}.txt"


def test_a_roster_column_in_an_error(run_folder):
    done = CliRunner().invoke(app, ["export", "--format", "canvas", "--column", "Lateness (H:M:S)", "--out",
                                    str(run_folder), "--roster", str(review_book.ROOT / "tests/lms/canvas_gradebook.csv")])
    assert done.exit_code == 2
    roster = review_book.ROOT / "tests/lms/canvas_gradebook.csv"
    assert said(done) == (
        f"error: {roster}: line 1: no column 'Lateness (H:M:S)' to fill, and it cannot be added: 'Lateness (H:M:S)' "
        "is not a Canvas column name: expected 'Title' or 'Title (assignment id)', e.g. 'Midterm' or "
        "'Midterm (12345)', without 'Final Grade', 'Current Score' and the like, which Canvas's importer drops")


def test_a_tas_name_and_an_output_folder(run_folder):
    done = CliRunner().invoke(app, ["set", "2022001", "2.5", "5", "--by", "TA [bold]Kim[/] :smile:", "--out",
                                    str(run_folder)])
    assert done.exit_code == 0, done.output
    assert said(done) == "2022001 2.5: 5 points (manual) by TA [bold]Kim[/] :smile:"
    done = CliRunner().invoke(app, ["feedback", "--out", str(run_folder)])
    assert said(done) == f"wrote 4 feedback page(s) in {run_folder / 'feedback'}"
    target = run_folder / f"{WEIRD}.csv"
    done = CliRunner().invoke(app, ["export", "--format", "csv", "--out", str(run_folder), "--to", str(target)])
    assert said(done) == f"wrote {target}: 4 student(s)"


def test_a_notebook_to_check_that_is_not_there(tmp_path):
    done = CliRunner().invoke(app, ["check", str(tmp_path / f"{WEIRD}.ipynb"), "--rubric", str(review_book.RUBRIC)])
    assert done.exit_code == 2
    assert said(done) == f"error: {tmp_path / WEIRD}.ipynb: no such notebook or folder"


def test_a_rubric_folder_and_a_bundle(tmp_path, grader_wheel):
    rubric = shutil.copytree(review_book.RUBRIC, tmp_path / f"rubric {WEIRD}")
    out = tmp_path / f"bundle {WEIRD}"
    done = CliRunner().invoke(app, ["release", str(rubric), "--out", str(out), "--wheel", str(grader_wheel)])
    assert done.exit_code == 0, done.output
    written = ", ".join(str(out / name) for name in ("template.ipynb", ".grader/template.ipynb", "rubric.yaml",
                                                      grader_wheel.name, "grader-requirements.txt", "README.md"))
    assert said(done) == (f"wrote {written} students install grader and check their notebook as "
                          f"{out / 'README.md'} says")
    (rubric / "rubric.yaml").unlink()
    done = CliRunner().invoke(app, ["gradescope", "build", str(rubric), "--out", str(tmp_path / "a.zip")])
    assert said(done) == (f"error: {rubric / 'rubric.yaml'}: no such file (a rubric folder holds rubric.yaml, a "
                          "template and a solution)")


def test_a_cache_folder(tmp_path):
    cache = tmp_path / f"cache {WEIRD}"
    done = CliRunner().invoke(app, ["assets", "synth", "--only", "shapes", "--cache-dir", str(cache)])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].startswith("shapes: synthetic (drawn) · sha256 ")
    assert lines[1:] == [f"cache: {cache / 'assets'}"]
