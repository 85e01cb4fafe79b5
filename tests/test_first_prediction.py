"""A network whose weights are set right but that never computed a prediction (every training cell raises before
its first forward pass) still earns "first prediction is -5 + 10x": the grader evaluates the student's module, as
the item left it, on the reference's inputs. Graded end to end on the midterm's Problems 2 and 3."""

from __future__ import annotations

import json

import nbformat
import pytest

from tests.conftest import SUBMISSIONS, problems_2_and_3_rubric, run_cli

pytestmark = pytest.mark.notebooks


def never_predicted(weights: str) -> nbformat.NotebookNode:
    """김민준's notebook with the network called `model` in every training loop, a name it never had: each raises a
    NameError before its first forward pass, so no cell of Problem 2 computes a prediction."""
    nb = nbformat.read(SUBMISSIONS / "김민준(2022001).ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = cell.source.replace("net(X)", "model(X)").replace("[[ -5.0, 10.0]]", weights)
    return nb


@pytest.fixture(scope="module")
def results(tmp_path_factory, cache_dir) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("first-prediction")
    submissions = folder / "submissions"
    submissions.mkdir()
    nbformat.write(never_predicted("[[ -5.0, 10.0]]"), submissions / "김민준(2022001).ipynb")
    nbformat.write(never_predicted("[[ -4.0, 10.0]]"), submissions / "이서연(2022002).ipynb")
    run_cli("grade", str(submissions), "--rubric", str(problems_2_and_3_rubric(folder)), "--out", str(folder / "out"),
            "--quiet", "--jobs", "1", env_cache=cache_dir)
    document = json.loads((folder / "out" / "results.json").read_text(encoding="utf-8"))
    return {submission["student_id"]: {item["id"]: item for item in submission["items"]}
            for submission in document["submissions"]}


def test_the_right_weights_without_a_forward_pass_earn_the_first_prediction(results):
    item = results["2022001"]["2.1"]
    assert (item["points"], item["message"]) == (
        6.0, "✓ net is Linear(in_features=2, out_features=1, bias=False) · ✓ first prediction is -5 + 10x")
    assert results["2022001"]["2.2"]["points"] == 0.0  # nothing was trained


def test_wrong_weights_without_a_forward_pass_are_evaluated_and_found_wrong(results):
    item = results["2022002"]["2.1"]
    assert (item["points"], item["message"]) == (
        3.0, "✓ net is Linear(in_features=2, out_features=1, bias=False) · ✗ first prediction is -5 + 10x: first "
             "prediction: 100 of 100 value(s) outside the tolerance (your network computed no prediction; it was "
             "evaluated on the question's inputs)")
