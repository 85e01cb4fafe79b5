"""The third exam, `rubrics/dl2023-cnn-quiz`, written only with data: training rules that gate an item, fitted values
found without a variable's name, an item that must reproduce another of the same student, follow-through credit and
a void item. Points per item as worked out by running the samples (submissions/dl2023-cnn-quiz/README.md says why
each differs)."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest
import yaml

from grader.notebook.answers import AnswerReader, read_answers
from grader.notebook.locate import locate
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.notebooks

RUBRIC = ROOT / "rubrics" / "dl2023-cnn-quiz"
SUBMISSIONS = ROOT / "submissions" / "dl2023-cnn-quiz"
ITEMS = ["1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "2.4", "2.5"]
EXPECTED = {
    "2024001": [40, 25, 20, 3, 3, 3, 3, 3],  # own names, a hand-written loss in (1), plain tensors in (2)
    "2024002": [0, 25, 20, 3, 3, 3, 3, 3],  # torch.nn.Sequential in (1): the gate; (2) reproduces that (1)
    "2024003": [5, 25, 20, 0, 3, 3, 3, 3],  # lr=0.1 in (1) and (2); (3) earns follow-through; 2.1 wrong, 2.2 void
    "2024004": [40, 0, 20, 3, 3, 3, 3, 3],  # (2) trains torch.nn layers: the gate, though its values reproduce (1)
    "2024005": [40, 0, 5, 3, 3, 3, 3, 3],  # (2) from random tensors: not (1)'s values; six SGD updates in (3)
}


def grade(submissions, rubric, out, cache_dir) -> dict[str, dict]:
    run_cli("grade", str(submissions), "--rubric", str(rubric), "--out", str(out), "--quiet", "--jobs", "2",
            env_cache=cache_dir)
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {submission["student_id"]: submission for submission in document["submissions"]}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("cnn-quiz")
    return out, grade(SUBMISSIONS, RUBRIC, out, cache_dir)


@pytest.fixture(scope="module")
def results(graded) -> dict[str, dict]:
    return graded[1]


def messages(result: dict) -> dict[str, str]:
    return {item["id"]: item["message"] for item in result["items"]}


def test_every_sample_earns_the_points_worked_out_for_it(results):
    assert {student: [item["points"] for item in result["items"]] for student, result in results.items()} == EXPECTED
    assert all([item["id"] for item in result["items"]] == ITEMS for result in results.values())
    assert {result["max"] for result in results.values()} == {100}


def test_training_a_library_network_where_an_own_class_is_required_zeroes_the_item(results):
    assert messages(results["2024002"])["1.1"] == (
        "✗ trains your own class with a Conv2d, no pretrained model: this item must train a class of your own "
        "(a torch.nn.Module subclass you wrote), but it trained weight, bias of torch.nn.Conv2d in "
        "torch.nn.Sequential; weight, bias of torch.nn.Linear in torch.nn.Sequential · "
        "✗ optimizer is Adam with lr=0.01: 0 points: the item's rule 'trains your own class with a Conv2d, no "
        "pretrained model' failed · ✗ fitted probabilities after training: 0 points: the item's rule 'trains your "
        "own class with a Conv2d, no pretrained model' failed · ✗ weights after ten updates: 0 points: the item's "
        "rule 'trains your own class with a Conv2d, no pretrained model' failed")


def test_a_zero_point_gate_takes_the_points_its_sibling_check_would_earn(results):
    assert messages(results["2024004"])["1.2"] == (
        "✗ trains no torch.nn layer (plain tensors or your own class): training torch.nn.Conv2d is not allowed, and "
        "this item trained weight, bias of torch.nn.Conv2d in your class Net; training torch.nn.Linear is not "
        "allowed, and this item trained weight, bias of torch.nn.Linear in your class Net · ✗ the same fitted "
        "values as your (1): 0 points: the item's rule 'trains no torch.nn layer (plain tensors or your own "
        "class)' failed")


def test_fitted_values_and_reproduction_are_found_whatever_the_names(results):
    # 강민지 calls her network `model`, its loss `nll` (written by hand, so the network's output is what was fitted),
    # her tensors `w_conv` …: full points. 홍서우's (2) starts from random tensors: not her (1)'s values.
    assert messages(results["2024001"])["1.2"] == (
        "✓ trains no torch.nn layer (plain tensors or your own class) · ✓ the same fitted values as your (1)")
    assert messages(results["2024005"])["1.2"] == (
        "✓ trains no torch.nn layer (plain tensors or your own class) · ✗ the same fitted values as your (1): "
        "fitted values (compared with your 1.1): 194 of 200 value(s) outside the tolerance")


def test_follow_through_reports_both_comparisons(results):
    assert messages(results["2024003"])["1.3"] == (
        "✓ optimizer is SGD with lr=0.1 · ✓ weights after five more updates: right from your own earlier result "
        "(follow-through): the question's procedure, applied to the state your earlier answers left, gives what you "
        "got; against the expected result: weights after update 5: 18 of 18 value(s) outside the tolerance")
    # Six updates from the expected start: no replay is needed, and the count is wrong either way.
    assert messages(results["2024005"])["1.3"] == (
        "✓ optimizer is SGD with lr=0.1 · ✗ weights after five more updates: SGD made 6 update(s) in a row here, not "
        "the number the question asks for")


def test_without_follow_through_the_earlier_mistake_costs_the_later_item(tmp_path, cache_dir):
    rubric = tmp_path / "rubric"
    shutil.copytree(RUBRIC, rubric)
    document = yaml.safe_load((rubric / "rubric.yaml").read_text(encoding="utf-8"))
    for item in document["items"]:
        for check in item["checks"]:
            check.pop("follow_through", None)
    (rubric / "rubric.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy2(SUBMISSIONS / "신예린(2024003).ipynb", submissions)
    result = grade(submissions, rubric, tmp_path / "out", cache_dir)["2024003"]
    assert [item["points"] for item in result["items"]] == [5, 25, 5, 0, 3, 3, 3, 3]
    assert messages(result)["1.3"] == ("✓ optimizer is SGD with lr=0.1 · ✗ weights after five more updates: weights "
                                       "after update 5: 18 of 18 value(s) outside the tolerance")


def test_a_void_item_is_graded_for_no_one_and_keeps_its_answers_apart(results):
    # 신예린 answered the void (2) "True" and (1) "False": each read from its own cell.
    void = next(item for item in results["2024003"]["items"] if item["id"] == "2.2")
    assert (void["points"], void["max_points"], void["status"], void["message"]) == (
        3.0, 3.0, "void", "withdrawn by the instructor (void): its 3 point(s) are given to everyone")
    assert messages(results["2024003"])["2.1"] == "answer read as False"
    # Deleting the item instead would merge its cell into (1), whose answer could then no longer be read.
    nb = nbformat.read(SUBMISSIONS / "신예린(2024003).ipynb", as_version=4)
    template = nbformat.read(RUBRIC / "template.ipynb", as_version=4)
    for ids in (ITEMS, [item for item in ITEMS if item != "2.2"]):
        layout = locate(nb, ids)
        read = read_answers(AnswerReader(template, ids), ids, [i for i in ids if i.startswith("2.")], [], {}, nb, layout)
        answer = read.true_false["2.1"][0]
        assert (answer.value, answer.status) == ((False, "answered") if "2.2" in ids else (None, "ambiguous")), ids


def test_a_void_item_takes_no_score_and_is_one_visible_test_on_gradescope(graded, cache_dir):
    out, _ = graded
    refused = run_cli("set", "2024003", "2.2", "0", "--by", "TA Kim", "--reason", "wrong", "--out", str(out),
                      env_cache=cache_dir, check=False)
    assert refused.returncode != 0
    assert "item 2.2 is void (withdrawn by the instructor): it is the same for everyone and takes no score" in \
        " ".join((refused.stdout + refused.stderr).split())
    run_cli("export", "--format", "gradescope", "--out", str(out), "--to", str(out / "gradescope"), env_cache=cache_dir)
    document = json.loads(next((out / "gradescope").glob("*2024003*")).read_text(encoding="utf-8"))
    assert [test for test in document["tests"] if test["number"] == "2.2"] == [{
        "number": "2.2", "name": "2.2 (2) Conv2d(1,2,3) output shape", "score": 3.0, "max_score": 3.0,
        "status": "passed", "output": "withdrawn by the instructor (void): its 3 point(s) are given to everyone",
        "visibility": "visible"}]


def test_the_students_self_check_says_what_grading_says_of_the_public_rules(graded, cache_dir):
    from grader.gradebook import Gradebook
    from grader.selfcheck.check import SelfChecker
    from grader.selfcheck.public import load_public_rubric
    from grader.run import NotebookRunner

    out, _ = graded
    loaded = load_public_rubric(RUBRIC)
    runner = NotebookRunner(cell_timeout_s=60, notebook_timeout_s=300, cache_dir=cache_dir, sandbox=None)
    with Gradebook(out / "gradebook.sqlite") as book:
        for student, name in (("2024002", "배도현"), ("2024004", "조하준"), ("2024005", "홍서우")):
            report = SelfChecker(loaded, runner).check(SUBMISSIONS / f"{name}({student}).ipynb")
            graded_checks = {(item.id, check.name): (check.passed, check.message)
                             for item in book.result(student).items for check in item.checks}
            public = {(item.id, verdict.name): (verdict.passed, verdict.message) for item in report.items
                      for verdict in item.checks if verdict.public}
            assert sorted(public) == [("1.1", "trains your own class with a Conv2d, no pretrained model"),
                                      ("1.2", "the same fitted values as your (1)"),
                                      ("1.2", "trains no torch.nn layer (plain tensors or your own class)")]
            assert public == {key: graded_checks[key] for key in public}, student
        void = next(item for item in report.items if item.id == "2.2")
        assert void.answer == "withdrawn by the instructor (void): its points are given to everyone"


def test_the_rubric_lints_clean_and_says_the_item_is_void(cache_dir):
    done = run_cli("rubric", "lint", str(RUBRIC), "--no-sandbox", env_cache=cache_dir)
    output = " ".join(done.stdout.split())
    assert "item 2.2 is void: graded for no one, its 3 point(s) given to everyone" in output
    assert "0 error(s), 1 warning(s)" in output
