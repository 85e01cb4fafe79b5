"""The second exam, `rubrics/dl2022-final` (RNN/LSTM next-character prediction), graded end to end with no
code of its own: values evaluated in the kernel, parameter counts, model fits on the reference's data,
printed values, inline-markdown True/False and a choose-all item. Points per item as worked out by running
the samples (submissions/dl2022-final/README.md says why each differs)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.notebooks

RUBRIC = ROOT / "rubrics" / "dl2022-final"
SUBMISSIONS = ROOT / "submissions" / "dl2022-final"
ITEMS = ["1.1", "1.2", "1.3", "1.4", "1.5", "2.1", "2.2", "2.3", "2.4", "2.5", "3.1"]
# Automatic points per item (1.5 is manual: 0 until a TA sets it).
EXPECTED = {
    "2023001": [12, 10, 18, 15, 0, 6, 6, 6, 6, 6, 10],  # the reference's answers
    "2023002": [12, 10, 6, 15, 0, 6, 6, 6, 6, 6, 10],  # lr=0.01: fitted values and prints off, accuracy kept
    "2023003": [12, 10, 18, 5, 0, 6, 6, 6, 6, 6, 10],  # LSTM(4, 4): count and values off, accuracy kept
    "2023004": [12, 10, 18, 15, 0, 6, 6, 6, 0, 0, 8],  # T/F: one unreadable, one wrong; choice 1, 3
    "2023005": [12, 0, 0, 15, 0, 6, 6, 6, 6, 6, 10],  # NameError in 1.2: 1.2 and 1.3 lost, 1.4 runs
    "2023006": [12, 10, 18, 15, 0, 6, 6, 6, 6, 6, 10],  # no tags, .cuda() guarded
    "2023007": [12, 10, 18, 0, 0, 6, 6, 6, 6, 0, 10],  # 1.4 and 2.5 left unanswered
    "2023008": [12, 10, 18, 15, 0, 6, 6, 6, 6, 6, 8],  # no tags, one Adam per module, yhat displayed
    "2023009": [12, 10, 18, 15, 0, 6, 6, 6, 6, 6, 10],  # yhat of the last epoch: 1.7e-5 off, inside 5e-4
}


@pytest.fixture(scope="module")
def results(tmp_path_factory, cache_dir) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("final")
    run_cli("grade", str(SUBMISSIONS), "--rubric", str(RUBRIC), "--out", str(out), "--quiet", "--jobs", "2",
            env_cache=cache_dir)
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {submission["student_id"]: submission for submission in document["submissions"]}


def test_every_sample_earns_the_points_worked_out_for_it(results):
    assert {student: [item["points"] for item in result["items"]] for student, result in results.items()} == EXPECTED
    assert all([item["id"] for item in result["items"]] == ITEMS for result in results.values())


def test_the_reference_answers_are_full_marks_but_the_manual_item(results):
    reference = results["2023001"]
    assert (reference["total"], reference["max"], reference["status"]) == (95, 100, "needs-review")
    assert {item["id"]: item["status"] for item in reference["items"]} == {
        **{item: "pass" for item in ITEMS}, "1.5": "manual"}


def test_messages_say_what_went_wrong_without_the_key(results):
    messages = {(student, item["id"]): item["message"] for student, result in results.items()
                for item in result["items"]}
    assert messages["2023003", "1.4"] == (
        "✗ lstm's number of trainable parameters: the module has 160 parameters · "
        "✗ fitted probabilities yhat2[:8]: value: 4 of 32 value(s) outside the tolerance · "
        "✓ the trained lstm predicts the next character")
    assert messages["2023005", "1.2"] == (
        "✗ rnn's number of trainable parameters: the parameter count could not be evaluated after cell 8: "
        "NameError: name 'rnn' is not defined · ✗ rnn's output at initialisation (first 5 time steps): the value "
        "could not be evaluated after cell 8: NameError: name 'rnn' is not defined")
    assert messages["2023007", "1.4"] == (
        "✗ lstm's number of trainable parameters: the parameter count could not be evaluated after cell 12: "
        "NameError: name 'lstm' is not defined · ✗ fitted probabilities yhat2[:8]: the value could not be "
        "evaluated after cell 12: NameError: name 'yhat2' is not defined · ✗ the trained lstm predicts the next "
        "character: the model on the grader's data could not be evaluated after cell 12: NameError: name 'linr2' "
        "is not defined")
