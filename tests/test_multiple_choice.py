"""`multiple_choice` checks: "choose all that apply" answered as a set of option numbers."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.batch import rubric_summary
from grader.checks import CHECKS, ItemContext, Trace
from grader.evidence.model import Evidence
from grader.execution import Execution
from grader.grading import Grader
from grader.notebook.answers import Snippet, choice_answers
from grader.notebook.locate import locate
from grader.notebook.truefalse import ChoiceAnswer, read_choices
from grader.report.feedback import feedback, feedback_html
from grader.report.render import write_reports
from grader.results import ItemResult, SubmissionResult
from grader.rubric import RubricError, Tolerance, load_rubric
from grader.rubric.models import Item
from grader.run import NotebookRunner
from grader.selfcheck.check import SelfChecker
from grader.selfcheck.public import load_public_rubric, public_view_of

ONE_TO_FIVE = {1, 2, 3, 4, 5}
TOLERANCE = Tolerance(rtol=0.0, atol=0.0)


# --- reading ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "chosen", "listed"),
    [
        ("markdown", "2, 3, 4", {2, 3, 4}, "2, 3, 4"),
        ("markdown", "(2), (4)", {2, 4}, "2, 4"),
        ("markdown", "[2, 4]", {2, 4}, "2, 4"),
        ("markdown", "2번, 4번", {2, 4}, "2, 4"),
        ("markdown", "답: 2,4", {2, 4}, "2, 4"),
        ("markdown", "**4, 2**", {2, 4}, "2, 4"),
        ("code", "ans = [2, 4]", {2, 4}, "2, 4"),
        ("code", "[2, 4]", {2, 4}, "2, 4"),
        ("code", "print('2, 4')", {2, 4}, "2, 4"),
        ("code", "ans = [4, 2]  # 답", {2, 4}, "2, 4"),
    ],
)
def test_answer_forms(kind: str, text: str, chosen: set[int], listed: str) -> None:
    answer = read_choices([(kind, text)], ONE_TO_FIVE)
    assert answer == ChoiceAnswer(frozenset(chosen), "answered", " ".join(text.split()))
    assert answer.listed == listed


def test_the_last_list_answers() -> None:
    answer = read_choices([("markdown", "1, 2"), ("markdown", "고민해 보니"), ("code", "ans = [3]")], ONE_TO_FIVE)
    assert answer == ChoiceAnswer(frozenset({3}), "answered", "ans = [3]")


@pytest.mark.parametrize(
    ("snippets", "quoted"),
    [
        ([("markdown", "2번과 4번이 맞다")], "2번과 4번이 맞다"),
        ([("markdown", "2, 7")], "2, 7"),  # 7 is not an option
        ([("code", "[]")], "[]"),
        ([("markdown", "Linear and\n   ReLU"), ("code", "print(layers)  # scratch")],
         "Linear and ReLU / print(layers) # scratch"),
    ],
)
def test_unreadable_answers_are_quoted(snippets: list[tuple[str, str]], quoted: str) -> None:
    assert read_choices(snippets, ONE_TO_FIVE) == ChoiceAnswer(None, "ambiguous", quoted)


@pytest.mark.parametrize("snippets", [[], [("code", "# 답을 쓰시오\n")]])
def test_unanswered(snippets: list[tuple[str, str]]) -> None:
    assert read_choices(snippets, ONE_TO_FIVE) == ChoiceAnswer(None, "unanswered", "")


def test_without_options_any_number_up_to_99_is_read() -> None:
    snippets = {"1.1": [Snippet(3, "markdown", "12, 99")], "1.2": [Snippet(5, "markdown", "3, 100")],
                "1.3": [Snippet(7, "markdown", "3, 6")]}
    answers = choice_answers({"1.1": None, "1.2": None, "1.3": [1, 2, 3, 4, 5]}, snippets)
    assert answers == {"1.1": ChoiceAnswer(frozenset({12, 99}), "answered", "12, 99"),
                       "1.2": ChoiceAnswer(None, "ambiguous", "3, 100"),
                       "1.3": ChoiceAnswer(None, "ambiguous", "3, 6")}


# --- scoring ------------------------------------------------------------------------------------------


def choice_item(visibility: str = "hidden", **check) -> Item:
    spec = {"kind": "multiple_choice", "name": "layers", "points": 5, "answer": [1, 3, 4]} | check
    return Item.model_validate({"id": "4.2", "title": "t", "visibility": visibility, "checks": [spec]})


def graded(item: Item, choice: ChoiceAnswer | None):
    ctx = ItemContext.build(item, TOLERANCE, Trace.of(Evidence()), None, frozenset({2}), choice=choice)
    return CHECKS["multiple_choice"](item.checks[0], ctx)


def answered(*numbers: int) -> ChoiceAnswer:
    return ChoiceAnswer(frozenset(numbers), "answered", ", ".join(map(str, numbers)))


@pytest.mark.parametrize(
    ("chosen", "points", "passed"),
    [((1, 3, 4), 5.0, True), ((4, 1, 3), 5.0, True), ((1, 3), 0.0, False), ((1, 2, 3, 4), 0.0, False), ((2,), 0.0, False)],
)
def test_all_or_nothing(chosen: tuple[int, ...], points: float, passed: bool) -> None:
    result = graded(choice_item(), answered(*chosen))
    assert (result.points, result.max_points, result.passed) == (points, 5, passed)


@pytest.mark.parametrize(
    ("chosen", "points", "right"),
    [((1, 3, 4), 5.0, 5), ((1, 3), 4.0, 4), ((1, 2, 3, 4), 4.0, 4), ((2, 5), 0.0, 0), ((1, 2), 2.0, 2)],
)
def test_per_option(chosen: tuple[int, ...], points: float, right: int) -> None:
    result = graded(choice_item(options=[1, 2, 3, 4, 5], scoring="per_option"), answered(*chosen))
    assert result.points == pytest.approx(points, abs=1e-12)
    assert result.passed is (right == 5)
    assert result.message == f"answer read as {', '.join(map(str, sorted(chosen)))}: {right} of 5 options right"


def test_per_option_shares_are_exact_fractions_of_the_points() -> None:
    result = graded(choice_item(points=2, options=[1, 2, 3, 4, 5, 6], scoring="per_option"), answered(1, 3))
    assert result.points == 2 * 5 / 6  # only 4 is misclassified


def test_a_hidden_item_never_shows_the_key_to_the_student() -> None:
    result = graded(choice_item(), answered(1, 2))
    assert result.message == "answer read as 1, 2"
    assert result.detail == {"expected": [1, 3, 4], "got": [1, 2], "key": "1, 3, 4", "scoring": "all_or_nothing",
                             "source": "1, 2", "missing": [3, 4], "wrong": [2]}


def test_a_public_item_says_which_options_are_wrong() -> None:
    result = graded(choice_item("public", options=[1, 2, 3, 4, 5], scoring="per_option"), answered(1, 2))
    assert result.message == "answer read as 1, 2: 2 of 5 options right (3, 4 should be chosen too; 2 should not be chosen)"
    assert result.points == 2.0


def test_a_right_public_answer_says_only_what_was_read() -> None:
    result = graded(choice_item("public"), answered(1, 3, 4))
    assert (result.points, result.passed, result.message) == (5.0, True, "answer read as 1, 3, 4")


def test_unreadable_scores_zero_with_the_text_quoted() -> None:
    result = graded(choice_item(), ChoiceAnswer(None, "ambiguous", "Linear and ReLU"))
    assert (result.points, result.passed) == (0.0, False)
    assert result.message == "no option numbers could be read from: \u201cLinear and ReLU\u201d"


@pytest.mark.parametrize("choice", [None, ChoiceAnswer(None, "unanswered", "")])
def test_unanswered_scores_zero(choice: ChoiceAnswer | None) -> None:
    result = graded(choice_item(), choice)
    assert (result.points, result.passed, result.message) == (0.0, False, "no answer was found for this item")


def test_a_choice_item_is_answered_with_numbers_and_needs_no_execution() -> None:
    item = choice_item(options=[1, 2, 3, 4, 5])
    assert (item.answer_kind, item.needs_execution, item.choice_options) == ("choice", False, [1, 2, 3, 4, 5])


# --- validation ---------------------------------------------------------------------------------------


def rubric_folder(tmp_path: Path, items: list[dict], template: nbformat.NotebookNode,
                  solution: nbformat.NotebookNode) -> Path:
    folder = tmp_path / "rubric"
    folder.mkdir()
    document = {"id": "quiz", "title": "Quiz", "total": sum(check["points"] for item in items for check in item["checks"]),
                "tolerance": {"rtol": 0, "atol": 0}, "items": items}
    (folder / "rubric.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    nbformat.write(template, folder / "template.ipynb")
    nbformat.write(solution, folder / "solution.ipynb")
    return folder


def validation_error(tmp_path: Path, **check) -> str:
    items = [{"id": "4.2", "title": "layers", "checks": [{"kind": "multiple_choice", "name": "layers", "points": 5,
                                                          "answer": [1, 3]} | check]}]
    folder = rubric_folder(tmp_path, items, new_notebook(), new_notebook())
    with pytest.raises(RubricError) as caught:
        load_rubric(folder)
    return str(caught.value).split("\n", 1)[1]


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        ({"scoring": "per_option"},
         "  at items[0] (id '4.2').checks[0].scoring: Value error, per_option needs `options`: each option offered "
         "earns a share of the points (got 'per_option')"),
        ({"options": [1, 2], "scoring": "per_option"},
         "  at items[0] (id '4.2').checks[0].options: Value error, the options do not offer 3, which `answer` names"),
        ({"answer": []},
         "  at items[0] (id '4.2').checks[0].answer: List should have at least 1 item after validation, not 0"),
        ({"answer": [0, 2]},
         "  at items[0] (id '4.2').checks[0].answer[0]: Input should be greater than or equal to 1 (got 0)"),
        ({"options": [1, 2, 3, 100]},
         "  at items[0] (id '4.2').checks[0].options[3]: Input should be less than or equal to 99 (got 100)"),
        ({"answer": [1, 1, 3]},
         "  at items[0] (id '4.2').checks[0].answer: Value error, each option number once (got [1, 1, 3])"),
        ({"scoring": "by_option"},
         "  at items[0] (id '4.2').checks[0].scoring: Input should be 'all_or_nothing' or 'per_option' "
         "(got 'by_option')"),
    ],
)
def test_validation_names_the_field_and_why(tmp_path: Path, check: dict, problem: str) -> None:
    assert validation_error(tmp_path, **check) == problem


def test_an_item_reads_one_choice_answer(tmp_path: Path) -> None:
    check = {"kind": "multiple_choice", "name": "layers", "points": 1, "answer": [1]}
    items = [{"id": "4.2", "title": "layers", "checks": [check, check | {"name": "again"}]}]
    with pytest.raises(RubricError) as caught:
        load_rubric(rubric_folder(tmp_path, items, new_notebook(), new_notebook()))
    assert str(caught.value).split("\n", 1)[1] == (
        "  at items[0] (id '4.2').checks: Value error, an item has at most one multiple_choice check and then no "
        "true_false check: each reads the item's answer its own way")


# --- grading a notebook -------------------------------------------------------------------------------

QUESTIONS = [
    ("4.1", "Which are layers? ① Linear ② Adam ③ Conv2d ④ SGD ⑤ ReLU"),
    ("4.2", "Which are optimizers? ① Linear ② Adam ③ Conv2d ④ SGD ⑤ ReLU"),
]
ITEMS = [
    {"id": "4.1", "title": "Layers", "checks": [
        {"kind": "multiple_choice", "name": "the layers", "points": 3, "answer": [1, 3, 5]}]},
    {"id": "4.2", "title": "Optimizers", "visibility": "public", "checks": [
        {"kind": "multiple_choice", "name": "the optimizers", "points": 5, "answer": [2, 4], "options": [1, 2, 3, 4, 5],
         "scoring": "per_option"}]},
]


def notebook(answers: dict[str, list[nbformat.NotebookNode]]) -> nbformat.NotebookNode:
    """The quiz: problem 4's heading, then per item its question and an empty code cell, then the answer cells."""
    cells = [new_markdown_cell("# Quiz"), new_markdown_cell("## `4` Choose all that apply")]
    for item_id, question in QUESTIONS:
        cells += [new_markdown_cell(f"`({item_id.split('.')[1]})` {question}"), new_code_cell("")]
        cells += answers.get(item_id, [])
    return new_notebook(cells=cells)


@pytest.fixture
def quiz(tmp_path: Path) -> Path:
    solution = notebook({"4.1": [new_code_cell("ans = [1, 3, 5]")], "4.2": [new_markdown_cell("답: 2, 4")]})
    return rubric_folder(tmp_path, ITEMS, notebook({}), solution)


def grade(folder: Path, nb: nbformat.NotebookNode) -> list[ItemResult]:
    runner = NotebookRunner(cell_timeout_s=1, notebook_timeout_s=1, cache_dir=folder / "cache", sandbox=None)
    grader = Grader(load_rubric(folder), runner, Evidence())  # checks that the solution earns full marks
    # Nothing needs executing: the items are graded as `grade` grades them after a run that recorded nothing.
    layout = locate(nb, grader.items.item_ids)
    return grader.items.grade(nb, layout, grader.items.read_answers(nb, layout), None, None, None, [], [])


def test_grading_a_notebook(quiz: Path) -> None:
    nb = notebook({"4.1": [new_markdown_cell("(1), (3), (5)")], "4.2": [new_code_cell("print([4])")]})
    results = grade(quiz, nb)
    assert [(r.id, r.points, r.max_points, r.status, r.answer, r.evidence, r.cells) for r in results] == [
        ("4.1", 3.0, 3.0, "pass", "1, 3, 5", "stored", [3, 4, 5]),
        ("4.2", 4.0, 5.0, "partial", "4", "stored", [6, 7, 8]),
    ]
    assert [r.message for r in results] == [
        "answer read as 1, 3, 5",
        "answer read as 4: 4 of 5 options right (2 should be chosen too)",
    ]
    assert results[1].checks[0].detail == {"expected": [2, 4], "got": [4], "key": "2, 4", "scoring": "per_option",
                                           "source": "print([4])", "missing": [2], "wrong": []}


def test_grading_wrong_and_unreadable_answers(quiz: Path) -> None:
    nb = notebook({"4.1": [new_markdown_cell("2번, 4번")], "4.2": [new_markdown_cell("Adam과 SGD")]})
    results = grade(quiz, nb)
    assert [(r.points, r.status, r.answer, r.message) for r in results] == [
        (0.0, "fail", "2, 4", "answer read as 2, 4"),
        (0.0, "fail", None, "no option numbers could be read from: \u201cAdam과 SGD\u201d"),
    ]


def test_an_answer_written_into_the_question_cell(quiz: Path) -> None:
    nb = notebook({})
    nb.cells[2].source += "\n\n답: 1, 3, 5"
    nb.cells[4].source += "\n\n**2, 4**"
    results = grade(quiz, nb)
    assert [(r.points, r.answer, r.message) for r in results] == [
        (3.0, "1, 3, 5", "answer read as 1, 3, 5"),
        (5.0, "2, 4", "answer read as 2, 4: 5 of 5 options right"),
    ]


def test_the_reference_must_answer_its_own_choice_items(tmp_path: Path) -> None:
    wrong = notebook({"4.1": [new_code_cell("ans = [1, 3]")], "4.2": [new_markdown_cell("답: 2, 4")]})
    folder = rubric_folder(tmp_path, ITEMS, notebook({}), wrong)
    with pytest.raises(RubricError) as caught:
        grade(folder, wrong)
    assert str(caught.value).endswith("own rubric:\n  item 4.1: 0/3 (answer read as 1, 3)")


def test_the_student_feedback_shows_the_answer_as_read(quiz: Path) -> None:
    nb = notebook({"4.1": [new_markdown_cell("1, 5")], "4.2": [new_markdown_cell("[2, 4]")]})
    items = grade(quiz, nb)
    result = SubmissionResult(student="s1", file="s1.ipynb", status="graded", total=5.0, max=8.0, items=items,
                              notebook_hash="sha256:0", rubric_hash="sha256:0")
    shown = [item for problem in feedback(rubric_summary(load_rubric(quiz)), result).problems for item in problem.items]
    assert [(item.points, item.message) for item in shown] == [
        (0.0, "answer read as 1, 5"),
        (5.0, "answer read as 2, 4: 5 of 5 options right"),
    ]
    page = feedback_html(rubric_summary(load_rubric(quiz)), result)
    cards = re.findall(r'<div class="card" id="item-4\.\d">\n  <div class="head">.*?</div></div>\n(.*?)</div>', page, re.S)
    assert cards == ["  <p>answer read as 1, 5</p>\n", "  <p>answer read as 2, 4: 5 of 5 options right</p>\n"]


def test_the_ta_report_shows_the_answer_and_the_key(quiz: Path, tmp_path: Path) -> None:
    nb = notebook({"4.1": [new_markdown_cell("1, 5")], "4.2": [new_markdown_cell("[2, 4]")]})
    result = SubmissionResult(student="s1", file="s1.ipynb", status="graded", total=5.0, max=8.0,
                              items=grade(quiz, nb), notebook_hash="sha256:0", rubric_hash="sha256:0")
    write_reports(tmp_path / "out", rubric_summary(load_rubric(quiz)), [result], {})
    page = (tmp_path / "out" / "students" / "s1.html").read_text(encoding="utf-8")
    assert page.count("Answer as read: <strong>1, 5</strong>\n<span class=\"muted\">· key 1, 3, 5</span>") == 1
    assert page.count("Answer as read: <strong>2, 4</strong>\n<span class=\"muted\">· key 2, 4</span>") == 1


# --- the students' self-check -------------------------------------------------------------------------


def self_check(folder: Path, nb: nbformat.NotebookNode):
    runner = NotebookRunner(cell_timeout_s=1, notebook_timeout_s=1, cache_dir=folder / "cache", sandbox=None)
    checker = SelfChecker(load_public_rubric(folder), runner)
    ran = Execution(notebook=nb, cells=[], evidence=None, evidence_error=None, stopped=None, stopped_at=None)
    return checker.report(folder / "mine.ipynb", nb, folder, ran, [], 0.0)


def test_the_public_view_offers_the_options_not_the_key(quiz: Path) -> None:
    public = public_view_of(load_rubric(quiz))
    assert [(item.answer_kind, item.options, item.needs_execution) for item in public.items] == [
        ("choice", None, False), ("choice", [1, 2, 3, 4, 5], False)]
    assert public.items[0].checks[0].model_dump() == {"visibility": "hidden", "kind": "multiple_choice",
                                                      "name": "the layers", "points": 3.0}


def test_self_check_reports_answers_as_read(quiz: Path) -> None:
    nb = notebook({"4.1": [new_markdown_cell("2, 4")], "4.2": [new_code_cell("ans = [2, 5]")]})
    report = self_check(quiz, nb)
    assert [(item.answer, item.problems) for item in report.items] == [("answered: 2, 4", []), ("answered: 2, 5", [])]
    assert [(v.public, v.passed, v.message) for item in report.items for v in item.checks] == [
        (False, None, "checked at grading"),
        (True, False, "answer read as 2, 5: 3 of 5 options right (4 should be chosen too; 5 should not be chosen)"),
    ]


def test_self_check_quotes_an_unreadable_answer_with_the_forms_it_reads(quiz: Path) -> None:
    nb = notebook({"4.2": [new_markdown_cell("Adam, SGD")]})
    report = self_check(quiz, nb)
    assert [(item.answer, item.problems) for item in report.items] == [
        ("unanswered", ["no answer was found: write the numbers of the options you choose"]),
        ("unreadable", ["'Adam, SGD' could not be read as the numbers of the options you choose (the options are "
                        "1, 2, 3, 4, 5): write only the numbers, e.g. 2, 4 or (2), (4) or [2, 4] or 2번, 4번 or "
                        "답: 2, 4"]),
    ]
