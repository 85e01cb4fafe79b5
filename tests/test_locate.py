from __future__ import annotations

import json
from time import monotonic

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.notebook.answers import AnswerReader
from grader.notebook.locate import added_text, locate
from grader.notebook.read import read_notebook
from grader.notebook.truefalse import read_true_false
from grader.rubric import load_rubric
from tests.conftest import RUBRIC, SUBMISSIONS

RUBRIC_LOADED = load_rubric(RUBRIC)
IDS = [item.id for item in RUBRIC_LOADED.spec.items]
TEMPLATE = RUBRIC_LOADED.template


def test_template_items_are_found_by_tag():
    layout = locate(TEMPLATE, IDS)
    assert set(layout.regions) == set(IDS)
    assert all(layout.found_by[item] == "tag" for item in IDS)
    # Each region is the question cell and the empty answer cell under it.
    for item in IDS:
        question, answer = layout.regions[item]
        assert f"question:{item}" in TEMPLATE.cells[question].metadata.tags
        assert f"answer:{item}" in TEMPLATE.cells[answer].metadata.tags
    assert layout.preambles[2] == [11, 12, 13]  # heading, the given data, the model
    assert layout.preambles[3] == [24]


def test_headings_locate_answers_without_tags_and_extra_cells_belong_to_the_item():
    nb = new_notebook(cells=[
        new_markdown_cell("# my midterm"),
        new_markdown_cell("## `2`. 다음을 읽고 물음에 답하라"),
        new_code_cell("x = 1"),
        new_markdown_cell("`(1)` network"),
        new_code_cell("net = 1"),
        new_code_cell("print(net)"),
        new_markdown_cell("### (2)"),
        new_code_cell("step()"),
        new_markdown_cell("(5) 미분계수가 거의 0이므로\n(1) 이 문장은 새 문항이 아니다"),
        new_markdown_cell("## 3. 참 거짓"),
        new_markdown_cell("**(10)** True"),
        new_code_cell("# (6)\nTrue"),
    ])
    layout = locate(nb, IDS)
    assert layout.regions == {"2.1": [3, 4, 5], "2.2": [6, 7], "2.5": [8], "3.10": [10], "3.6": [11]}
    assert layout.preambles == {2: [1, 2], 3: [9]}
    assert layout.found_by == {"2.1": "heading", "2.2": "heading", "2.5": "heading", "3.10": "heading", "3.6": "heading"}


def test_unknown_problem_numbers_do_not_move_the_region():
    nb = new_notebook(cells=[
        new_markdown_cell("## `2`"), new_markdown_cell("`(1)`"), new_markdown_cell("## 2022 notes"), new_code_cell("a = 1"),
    ])
    assert locate(nb, IDS).regions == {"2.1": [1, 2, 3]}


def test_added_text_is_what_the_student_typed_into_a_question():
    question = "`(3)` 위의 코드는 resnet34를 이용한 transfer learning 을 구현하였다."
    assert added_text(question, question + " **O**") == "**O**"
    assert added_text(question, question) == ""
    assert added_text(question, "답: X\n\n" + question) == "답: X"


def test_answer_reader_skips_template_text_and_keeps_answers():
    nb = nbformat.from_dict(TEMPLATE)
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    layout = locate(nb, IDS)
    question, answer = layout.regions["3.3"]
    nb.cells[question].source += "\n\n**X**"
    nb.cells[answer].source = "# 잘 모르겠음"
    reader = AnswerReader(TEMPLATE, IDS)
    snippets = reader.item_snippets(nb, layout, "3.3")
    assert [(s.cell, s.kind, s.text) for s in snippets] == [(question, "markdown", "**X**"), (answer, "code", "# 잘 모르겠음")]
    assert reader.item_snippets(nb, layout, "3.4") == []
    assert reader.preamble_snippets(nb, layout, 2) == []  # the given data cell is the template's


def test_a_retyped_question_cell_counts_as_the_answer():
    nb = new_notebook(cells=[new_markdown_cell("## `3`. 참 거짓"), new_markdown_cell("`(6)` T")])
    layout = locate(nb, IDS)
    snippets = AnswerReader(TEMPLATE, IDS).item_snippets(nb, layout, "3.6")
    assert [s.text for s in snippets] == [" T"]


def test_ten_thousand_cells_are_read_located_and_answered_in_linear_time(tmp_path):
    sample = read_notebook(SUBMISSIONS / "김민준(2022001).ipynb").notebook
    reader = AnswerReader(TEMPLATE, IDS)
    before = locate(sample, IDS)
    # Filler before the exam and inside 2.5's region (free text, so every cell is an answer snippet);
    # plain dicts, as nbformat's cell constructors validate each cell slowly.
    head = [_markdown(f"note {n}: (1) scratch") for n in range(3_000)]
    scratch = [_printing(f"x{n} = {n}\nprint(x{n})", f"tensor([{n}.])\n") if n % 2
               else _markdown(f"(thinking {n}) the gradient is small") for n in range(7_000 - len(sample.cells))]
    end_of_2_5 = before.regions["2.5"][-1] + 1
    cells = head + sample.cells[:end_of_2_5] + scratch + sample.cells[end_of_2_5:]
    path = tmp_path / "long.ipynb"
    path.write_text(json.dumps(dict(sample, cells=cells)), encoding="utf-8")

    started = monotonic()
    loaded = read_notebook(path)
    layout = locate(loaded.notebook, IDS)
    snippets = {item: reader.item_snippets(loaded.notebook, layout, item) for item in IDS}
    answers = [read_true_false([(s.kind, s.text) for s in snippets[f"3.{n}"]]).value for n in range(1, 11)]
    seconds = monotonic() - started

    assert len(loaded.notebook.cells) == 10_000 and loaded.notes == []
    shift = {item: len(head) + (len(scratch) if item.startswith("3.") else 0) for item in IDS}
    assert {item: cells[:2] for item, cells in layout.regions.items()} == {
        item: [cell + shift[item] for cell in cells[:2]] for item, cells in before.regions.items()}
    assert len(layout.regions["2.5"]) == len(before.regions["2.5"]) + len(scratch)
    assert len(snippets["2.5"]) == len(reader.item_snippets(sample, before, "2.5")) + len(scratch)
    assert answers == [False, True, True, True, False, True, True, False, False, True]
    assert seconds < 15  # about 1.5 s on 2 cores


def _markdown(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def _printing(source: str, printed: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": source,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": printed}]}
