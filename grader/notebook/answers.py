"""The text a student wrote for an item, separated from the template's text.

Cells the student left as the template had them are not answers; a question
cell the student wrote into contributes only what was added to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

import nbformat

from grader.notebook.locate import Layout, added_text, locate, strip_marker

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


def _without_placeholders(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if line.strip() not in (CODE_PLACEHOLDER, TEXT_PLACEHOLDER))


def _similar(template_text: str, text: str) -> bool:
    matcher = SequenceMatcher(None, template_text, text, autojunk=False)
    # Cheap upper bounds first: ratio() takes time quadratic in the texts' length.
    return matcher.real_quick_ratio() >= SIMILAR and matcher.quick_ratio() >= SIMILAR and matcher.ratio() >= SIMILAR
