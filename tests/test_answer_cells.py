"""True/false and multiple choice answers typed as bare names in code cells (`T`, `거짓`, `O`, `2번, 4번`).

Running such a cell raises (NameError, SyntaxError), yet the answer is read from its text and scored: the self-check,
the TA's report and the student's feedback all say that the cell was read as the answer and that its error costs
nothing. A genuine NameError elsewhere is still a problem. The notebooks run for real (a cold kernel, unsandboxed).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.batch import rubric_summary
from grader.evidence.model import Evidence
from grader.grading import Grader
from grader.report.feedback import feedback_html, feedback_text
from grader.report.render import write_reports
from grader.rubric import load_rubric
from grader.run import NotebookRunner
from grader.selfcheck.check import CellProblem, SelfChecker, SelfCheckReport
from grader.selfcheck.public import load_public_rubric
from grader.selfcheck.render import console_lines, render_html
from grader.submission import discover

STATEMENTS = [("3.1", "2는 소수이다.", True), ("3.2", "1은 소수이다.", False), ("3.3", "3은 홀수이다.", True),
              ("3.4", "4는 홀수이다.", False)]
ITEMS = [
    *({"id": item_id, "title": statement, "checks": [{"kind": "true_false", "name": "true or false", "points": 2,
                                                      "answer": key}]} for item_id, statement, key in STATEMENTS),
    {"id": "4.1", "title": "Which are even?", "checks": [
        {"kind": "multiple_choice", "name": "the even numbers", "points": 2, "answer": [2, 4]}]},
]
NOT_DEFINED = "NameError: name 'undefined_total' is not defined"
COSTS_NOTHING = "the error of running it costs nothing"
# IPython names the cell's code after a hash it draws afresh: "SyntaxError: invalid decimal literal (2791696846.py, line 1)"
CELL_FILE = re.compile(r" \(\d+\.py, line 1\)")


def same_each_run(text: str) -> str:
    return CELL_FILE.sub("", text)


def exam(answers: dict[str, str], scratch: str = "") -> nbformat.NotebookNode:
    """The quiz as its template lays it out; `answers`: item -> the code cell typed under its question."""
    cells = [new_markdown_cell("# Quiz"), new_code_cell("import math")]
    if scratch:
        cells.append(new_code_cell(scratch))
    cells.append(new_markdown_cell("## `3` 참이면 True, 거짓이면 False를 쓰시오."))
    for item_id, statement, _ in STATEMENTS:
        cells += [new_markdown_cell(f"`({item_id.split('.')[1]})` {statement}"),
                  new_code_cell(answers.get(item_id, "# YOUR CODE HERE"))]
    cells += [new_markdown_cell("## `4` 고르시오"), new_markdown_cell("`(1)` 짝수를 모두 고르시오: ① 1 ② 2 ③ 3 ④ 4"),
              new_code_cell(answers.get("4.1", "# YOUR CODE HERE"))]
    return new_notebook(cells=cells)


# What a student types, cell by cell: bare names and a comment, and option numbers with 번.
STUDENT = {"3.1": "T", "3.2": "거짓", "3.3": "O", "3.4": "F  # 틀림", "4.1": "2번, 4번"}
# Cell numbers (1-based, markdown counted) of the student's notebook, with the scratch cell as cell 3.
SCRATCH, CELL = 3, {"3.1": 6, "3.2": 8, "3.3": 10, "3.4": 12, "4.1": 15}


def rubric_folder(folder: Path, **more) -> Path:
    folder.mkdir()
    document = {"id": "quiz", "title": "Quiz", "total": 10, "tolerance": {"rtol": 0, "atol": 0}, "items": ITEMS,
                "execution": {"cell_timeout_s": 60, "notebook_timeout_s": 120}, **more}
    (folder / "rubric.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    nbformat.write(exam({}), folder / "template.ipynb")
    solution = {item_id: str(key) for item_id, _, key in STATEMENTS} | {"4.1": "[2, 4]"}
    nbformat.write(exam(solution), folder / "solution.ipynb")
    return folder


@pytest.fixture(scope="module")
def quiz(tmp_path_factory) -> Path:
    return rubric_folder(tmp_path_factory.mktemp("quiz") / "rubric")


@pytest.fixture(scope="module")
def submitted(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("submissions")
    nbformat.write(exam(STUDENT, scratch="print(undefined_total)"), folder / "홍길동(2022001).ipynb")
    return folder


def runner(cache: Path) -> NotebookRunner:
    return NotebookRunner(cell_timeout_s=60, notebook_timeout_s=120, cache_dir=cache, sandbox=None)


@pytest.fixture(scope="module")
def graded(quiz, submitted, tmp_path_factory):
    grader = Grader(load_rubric(quiz), runner(tmp_path_factory.mktemp("cache")), Evidence())
    (submission,) = discover(submitted, "*.ipynb")
    result, _ = grader.grade(submission)
    return result


def note(item_id: str, value: str) -> str:
    return f"read as the answer to {item_id} ({value}); {COSTS_NOTHING}"


EXPECTED_NOTES = {CELL["3.1"]: note("3.1", "True"), CELL["3.2"]: note("3.2", "False"),
                  CELL["3.3"]: note("3.3", "True"), CELL["3.4"]: note("3.4", "False"), CELL["4.1"]: note("4.1", "2, 4")}


def test_grading_scores_the_answers_and_notes_their_cells(graded):
    assert [(item.id, item.points, item.answer) for item in graded.items] == [
        ("3.1", 2.0, "True"), ("3.2", 2.0, "False"), ("3.3", 2.0, "True"), ("3.4", 2.0, "False"), ("4.1", 2.0, "2, 4")]
    assert [(cell.cell, cell.status, same_each_run(cell.error), cell.answer_note)
            for cell in graded.cells if cell.status != "ok"] == [
        (SCRATCH, "error", NOT_DEFINED, None),
        (CELL["3.1"], "error", "NameError: name 'T' is not defined", EXPECTED_NOTES[CELL["3.1"]]),
        (CELL["3.2"], "error", "NameError: name '거짓' is not defined", EXPECTED_NOTES[CELL["3.2"]]),
        (CELL["3.3"], "error", "NameError: name 'O' is not defined", EXPECTED_NOTES[CELL["3.3"]]),
        (CELL["3.4"], "error", "NameError: name 'F' is not defined", EXPECTED_NOTES[CELL["3.4"]]),
        (CELL["4.1"], "error", "SyntaxError: invalid decimal literal", EXPECTED_NOTES[CELL["4.1"]]),
    ]


def test_the_ta_report_and_the_feedback_say_the_same(graded, quiz, tmp_path):
    summary = rubric_summary(load_rubric(quiz))
    write_reports(tmp_path, summary, [graded], {})
    report = same_each_run((tmp_path / "students" / f"{graded.student}.html").read_text(encoding="utf-8"))
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>error</td><td>(.*?)</td></tr>', report)
    assert rows == [
        (str(SCRATCH), f"<code>{NOT_DEFINED.replace(chr(39), '&#39;')}</code>"),
        *((str(cell), f"<code>{error}</code><div class=\"ok\">{EXPECTED_NOTES[cell]}</div>") for cell, error in [
            (CELL["3.1"], "NameError: name &#39;T&#39; is not defined"),
            (CELL["3.2"], "NameError: name &#39;거짓&#39; is not defined"),
            (CELL["3.3"], "NameError: name &#39;O&#39; is not defined"),
            (CELL["3.4"], "NameError: name &#39;F&#39; is not defined"),
            (CELL["4.1"], "SyntaxError: invalid decimal literal")]),
    ]
    page = same_each_run(feedback_html(summary, graded))
    assert (f'<tr><td class="num">{CELL["3.1"]}</td><td>raised an error</td><td><code>NameError: name &#39;T&#39; is '
            f'not defined</code><div class="ok">{EXPECTED_NOTES[CELL["3.1"]]}</div></td></tr>') in page
    assert page.count(COSTS_NOTHING) == 5
    assert (f'<tr><td class="num">{SCRATCH}</td><td>raised an error</td><td><code>NameError: name &#39;undefined_total'
            "&#39; is not defined</code></td></tr>") in page
    lines = feedback_text(summary, graded).splitlines()
    assert lines[:3] == [f"cell {SCRATCH} raised an error: {NOT_DEFINED}",
                         f"cell {CELL['3.1']} raised an error: NameError: name 'T' is not defined "
                         f"({EXPECTED_NOTES[CELL['3.1']]})",
                         f"cell {CELL['3.2']} raised an error: NameError: name '거짓' is not defined "
                         f"({EXPECTED_NOTES[CELL['3.2']]})"]


def test_the_self_check_says_so_and_counts_only_the_genuine_error(quiz, submitted, tmp_path):
    checker = SelfChecker(load_public_rubric(quiz), runner(tmp_path / "cache"))
    report = checker.check(submitted / "홍길동(2022001).ipynb")
    assert [(item.id, item.answer, item.problems) for item in report.items] == [
        ("3.1", "(1) → True", []), ("3.2", "(2) → False", []), ("3.3", "(3) → True", []), ("3.4", "(4) → False", []),
        ("4.1", "answered: 2, 4", [])]
    assert [(cell.cell, cell.item, cell.answer_note) for cell in report.cells] == [
        (SCRATCH, None, None), *((CELL[item_id], item_id, EXPECTED_NOTES[CELL[item_id]]) for item_id in CELL)]
    assert report.problems == 1  # the scratch cell's NameError, outside any item
    text = same_each_run("\n".join(re.sub(r"\[/?[a-z ]*\]", "", line) for line in console_lines(report)))
    assert (f"cells that stopped\n  cell {SCRATCH}: error: {NOT_DEFINED}\n"
            "    (cells are counted from the top of the notebook, text cells included)\n"
            f"  cell {CELL['3.1']} (3.1): error: NameError: name 'T' is not defined\n"
            f"    → {EXPECTED_NOTES[CELL['3.1']]}\n"
            f"  cell {CELL['3.2']} (3.2): error: NameError: name '거짓' is not defined\n"
            f"    → {EXPECTED_NOTES[CELL['3.2']]}\n") in text
    assert f"  cell {CELL['3.4']} (3.4): error: NameError: name 'F' is not defined\n    → {EXPECTED_NOTES[CELL['3.4']]}" \
        in text
    assert "1 problem(s) would cost points" in text
    assert f'<code>SyntaxError: invalid decimal literal</code><div class="ok">{EXPECTED_NOTES[CELL["4.1"]]}</div>' \
        in same_each_run(render_html(report))


def test_a_list_of_true_statements_in_a_code_cell_answers_the_group_and_costs_nothing(tmp_path):
    """Problem 3 asked as "choose all true statements", answered with their numbers in a code cell under its
    heading, before the first statement: outside any item, where a crashing cell is a problem unless it is this."""
    quiz = rubric_folder(tmp_path / "rubric", choose_all=[{"items": ["3.1", "3.2", "3.3", "3.4"]}])
    nb = exam({"4.1": "[2, 4]"})
    nb.cells.insert(3, new_code_cell("1번, 3번"))  # right after "## `3` …"
    folder = tmp_path / "submissions"
    folder.mkdir()
    nbformat.write(nb, folder / "홍길동(2022001).ipynb")
    listed = ("read as the answers to 3.1 (True), 3.2 (False), 3.3 (True), 3.4 (False); the error of running it costs "
              "nothing")
    report = SelfChecker(load_public_rubric(quiz), runner(tmp_path / "cache")).check(folder / "홍길동(2022001).ipynb")
    assert [(cell.cell, cell.item, same_each_run(cell.message), cell.answer_note) for cell in report.cells] == [
        (4, None, "SyntaxError: invalid decimal literal", listed)]
    assert report.problems == 0
    grader = Grader(load_rubric(quiz), runner(tmp_path / "cache"), Evidence())
    (submission,) = discover(folder, "*.ipynb")
    result, _ = grader.grade(submission)
    assert [item.points for item in result.items] == [2.0] * 5
    assert [(cell.cell, cell.answer_note) for cell in result.cells if cell.status != "ok"] == [(4, listed)]


def test_how_cells_are_counted_follows_the_first_numbered_cell_and_its_note():
    report = SelfCheckReport(
        notebook="midterm.ipynb", rubric="quiz", title="Quiz", items=[], notes=[], cpu_fallback="off",
        cell_timeout_s=60, notebook_timeout_s=120, seconds=1.0,
        cells=[CellProblem(cell=6, item="3.1", status="error", message="NameError: name 'T' is not defined",
                           answer_note="read as the answer to 3.1 (True); the error of running it costs nothing"),
               CellProblem(cell=9, item=None, status="error", message="ZeroDivisionError: division by zero")])
    text = "\n".join(re.sub(r"\[/?[a-z ]*\]", "", line) for line in console_lines(report))
    assert text.count("cells are counted") == 1
    assert (
        "\ncells that stopped\n"
        "  cell 6 (3.1): error: NameError: name 'T' is not defined\n"
        "    → read as the answer to 3.1 (True); the error of running it costs nothing\n"
        "    (cells are counted from the top of the notebook, text cells included)\n"
        "  cell 9: error: ZeroDivisionError: division by zero\n\n") in text
