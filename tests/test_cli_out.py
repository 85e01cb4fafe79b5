"""Commands that read a gradebook have no default --out: run from a checkout they must not rewrite its reports/."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.cli.gradescope import gradescope_app
from tests.conftest import RUBRIC


@pytest.mark.parametrize("args", [
    ["report"],
    ["export", "--format", "csv"],
    ["export", "--format", "csv", "--to", "grades.csv"],
    ["feedback"],
    ["feedback", "--gradebook", "reports/gradebook.sqlite"],
    ["set", "2022001", "2.5", "6", "--by", "TA Kim"],
    ["review", "--ta", "TA Kim"],
])
def test_a_command_on_a_gradebook_needs_out(tmp_path, monkeypatch, args):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "gradebook.sqlite").write_bytes(b"another exam's gradebook")
    before = sorted(os.listdir(tmp_path / "reports"))
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 2
    assert " ".join(done.output.split()) == (
        f"error: `grader {args[0]}` needs --out DIR: the output folder of the grading run (the --out given to "
        "`grader grade`), whose gradebook.sqlite it reads and where it writes")
    assert sorted(os.listdir(tmp_path / "reports")) == before
    assert (tmp_path / "reports" / "gradebook.sqlite").read_bytes() == b"another exam's gradebook"
    assert sorted(os.listdir(tmp_path)) == ["reports"]


def test_help_says_out_is_required():
    done = CliRunner().invoke(app, ["report", "--help"])
    assert done.exit_code == 0
    assert "Output folder of the grading run: the --out given to `grader grade` [required]." in " ".join(
        line.strip(" │") for line in done.output.splitlines())


def test_gradescope_build_needs_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(gradescope_app, ["build", str(RUBRIC)])
    assert done.exit_code == 2
    assert " ".join(done.output.split()) == (
        "error: `grader gradescope build` needs --out FILE: the autograder zip to write, e.g. --out autograder.zip")
    assert os.listdir(tmp_path) == []
