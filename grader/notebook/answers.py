"""The text a student wrote for an item, separated from the template's text, and the answers read from it.

Cells the student left as the template had them are not answers; a question
cell the student wrote into contributes only what was added to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

import nbformat

from grader.notebook.locate import Layout, added_text, locate, strip_marker
from grader.notebook.truefalse import Answer, ChoiceAnswer, holds_only_an_answer, read_choices, read_true_false
from grader.results import CellRun
from grader.rubric.models import MAX_OPTION_NUMBER

SIMILAR = 0.5  # a cell this close to a template cell is that cell, edited
# What a template puts where an answer goes (`grader assign` writes them). Never part of an answer, and removed
# before comparing with the template: a character diff would pair a student's "O" with the one in "YOUR".
CODE_PLACEHOLDER = "# YOUR CODE HERE"
TEXT_PLACEHOLDER = "YOUR ANSWER HERE"


@dataclass(frozen=True)
class Snippet:
    cell: int  # 0-based
    kind: str  # "code" | "markdown"
    text: str


class AnswerReader:
    def __init__(self, template: nbformat.NotebookNode, item_ids: list[str]) -> None:
        self.item_ids = item_ids
        layout = locate(template, item_ids)
        self._template_cells = {
            item: [template.cells[i].source for i in cells] for item, cells in layout.regions.items()
        }
        self._template_preambles = {
            problem: [template.cells[i].source for i in cells] for problem, cells in layout.preambles.items()
        }
        self._template_questions = {item: template.cells[i].source for item, i in layout.question_cells.items()}

    def item_snippets(self, nb: nbformat.NotebookNode, layout: Layout, item_id: str) -> list[Snippet]:
        question_cell = layout.question_cells.get(item_id)
        snippets = []
        for index in layout.regions.get(item_id, []):
            cell = nb.cells[index]
            if index == question_cell and item_id in self._template_questions:
                text = self._question_answer(self._template_questions[item_id], cell.source)
            else:
                text = self._new_text(cell, self._template_cells.get(item_id, []))
            if text.strip():
                snippets.append(Snippet(index, cell.cell_type, text))
        return snippets

    def preamble_snippets(self, nb: nbformat.NotebookNode, layout: Layout, problem: int) -> list[Snippet]:
        snippets = []
        for index in layout.preambles.get(problem, []):
            cell = nb.cells[index]
            text = self._new_text(cell, self._template_preambles.get(problem, []))
            if text.strip():
                snippets.append(Snippet(index, cell.cell_type, text))
        return snippets

    @staticmethod
    def _question_answer(template_question: str, source: str) -> str:
        """Added text when the question was kept; else the cell without its
        marker (a question retyped as "`(6)` T" carries only the answer)."""
        template_question, source = _without_placeholders(template_question), _without_placeholders(source)
        if _similar(template_question, source):
            return added_text(template_question, source)
        return strip_marker(source)

    @staticmethod
    def _new_text(cell: nbformat.NotebookNode, template_sources: list[str]) -> str:
        if cell.cell_type not in ("code", "markdown"):
            return ""
        source = _without_placeholders(cell.source)
        template_sources = [_without_placeholders(original) for original in template_sources]
        if any(source.strip() == original.strip() for original in template_sources):
            return ""
        if cell.cell_type == "markdown":
            similar = [t for t in template_sources if t.strip() and _similar(t, source)]
            if similar:
                return added_text(similar[0], source)
        return source



@dataclass(frozen=True)
class ReadAnswers:
    """What a notebook's cells answer, as read from their text: each item's snippets, true/false answers (with how
    they were read when not the plain way) and multiple choice answers."""

    snippets: dict[str, list[Snippet]]
    true_false: dict[str, tuple[Answer, str | None]]
    choices: dict[str, ChoiceAnswer]


def read_answers(reader: AnswerReader, item_ids: list[str], true_false_items: list[str],
                 choose_all: list[list[str]], choice_options: dict[str, list[int] | None],
                 nb: nbformat.NotebookNode, layout: Layout) -> ReadAnswers:
    snippets = {item_id: reader.item_snippets(nb, layout, item_id) for item_id in item_ids}
    return ReadAnswers(snippets, true_false_answers(reader, true_false_items, choose_all, nb, layout, snippets),
                       choice_answers(choice_options, snippets))


def true_false_answers(reader: AnswerReader, true_false_items: list[str], choose_all: list[list[str]],
                       nb: nbformat.NotebookNode, layout: Layout,
                       snippets: dict[str, list[Snippet]]) -> dict[str, tuple[Answer, str | None]]:
    """Each true/false item's answer as read, and how it was read when not the plain way.
    choose_all: groups of items a list of true statements' numbers may answer at once."""
    answers: dict[str, tuple[Answer, str | None]] = {}
    for item_id in true_false_items:
        answers[item_id] = (read_true_false(_pairs(snippets[item_id]), _cells(snippets[item_id])), None)
    for group in choose_all:
        if all(answers[item_id][0].status == "answered" for item_id in group):
            continue
        problem = int(group[0].split(".")[0])
        group_snippets = reader.preamble_snippets(nb, layout, problem)
        for item_id in group:
            group_snippets += snippets[item_id]
        numbers = {int(item_id.split(".")[1]): item_id for item_id in group}
        chosen = read_choices(_pairs(group_snippets), set(numbers), _cells(group_snippets))
        if chosen.value is None:
            continue
        for number, item_id in numbers.items():
            if answers[item_id][0].status != "answered":
                answers[item_id] = (
                    Answer(value=number in chosen.value, status="answered", source=chosen.listed, cell=chosen.cell),
                    f"from the list of true statements: {chosen.listed}",
                )
    return answers


def choice_answers(choice_options: dict[str, list[int] | None],
                   snippets: dict[str, list[Snippet]]) -> dict[str, ChoiceAnswer]:
    """Each multiple choice item's set of option numbers as read. choice_options: item -> the numbers it offers
    (None: any from 1 to MAX_OPTION_NUMBER)."""
    return {
        item_id: read_choices(_pairs(snippets[item_id]), set(options or range(1, MAX_OPTION_NUMBER + 1)),
                              _cells(snippets[item_id]))
        for item_id, options in choice_options.items()
    }


# A cell that is only an answer fails, when run, with one of these (`T`: NameError; `⭕`, `2번, 4번`: SyntaxError).
ANSWER_ERRORS = ("NameError:", "SyntaxError:", "IndentationError:")


def answer_cells(nb: nbformat.NotebookNode, cells: list[CellRun], read: ReadAnswers) -> list[CellRun]:
    """`cells` (a run's), with `answer_note` set on each that raised only because it holds nothing but an answer
    (`T`, `거짓`, `O` alone in a code cell) that was read from it. The error costs nothing: the answer is read from
    the cell's text, never from running it. Students, TAs and the self-check see the same note."""
    read_from: dict[int, list[str]] = {}  # 0-based cell -> "3.2 (False)" for each item whose answer it gave
    for item_id, (answer, _) in read.true_false.items():
        if answer.value is not None and answer.cell is not None:
            read_from.setdefault(answer.cell, []).append(f"{item_id} ({answer.value})")
    for item_id, choice in read.choices.items():
        if choice.value is not None and choice.cell is not None:
            read_from.setdefault(choice.cell, []).append(f"{item_id} ({choice.listed})")
    annotated = []
    for run in cells:
        index = run.cell - 1
        if (run.status == "error" and (run.error or "").startswith(ANSWER_ERRORS) and index in read_from
                and nb.cells[index].cell_type == "code" and holds_only_an_answer(nb.cells[index].source)):
            answered = read_from[index]
            what = f"the answer to {answered[0]}" if len(answered) == 1 else f"the answers to {', '.join(answered)}"
            run = run.model_copy(update={"answer_note": f"read as {what}; the error of running it costs nothing"})
        annotated.append(run)
    return annotated


def _pairs(snippets: list[Snippet]) -> list[tuple[str, str]]:
    return [(snippet.kind, snippet.text) for snippet in snippets]


def _cells(snippets: list[Snippet]) -> list[int]:
    return [snippet.cell for snippet in snippets]

def _without_placeholders(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if line.strip() not in (CODE_PLACEHOLDER, TEXT_PLACEHOLDER))


def _similar(template_text: str, text: str) -> bool:
    matcher = SequenceMatcher(None, template_text, text, autojunk=False)
    # Cheap upper bounds first: ratio() takes time quadratic in the texts' length.
    return matcher.real_quick_ratio() >= SIMILAR and matcher.quick_ratio() >= SIMILAR and matcher.ratio() >= SIMILAR
