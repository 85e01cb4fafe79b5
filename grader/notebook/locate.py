"""Find which cells answer which rubric item.

A cell starts an item when it carries the template's tag (`question:4.2` or
`answer:4.2`), or - for notebooks rebuilt outside the template, e.g. copied
into Colab - when its markdown opens with the exam's markers: a problem
heading (``## `2` ...``) then sub-items (`` `(3)` ``). Every later cell
belongs to that item until the next start, so answers split over extra
cells, or written into the question cell itself, are found too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import nbformat

_TAG = re.compile(r"^(question|answer):(\d+\.\d+)$")
_PROBLEM = re.compile(r"^\s*#{1,6}\s*(?:\*\*|__)?\s*(?:문제|Problem|Q)?\s*`?\s*(\d+)\s*`?\s*(?:\*\*|__)?\s*(?:[.)번:]|\s|$)", re.IGNORECASE)
_SUB_ITEM = re.compile(r"^\s*(?:#{1,6}\s*)?(?:\*\*|__)?\s*`?\s*[(（]\s*(\d+)\s*[)）]\s*`?")


@dataclass
class Layout:
    regions: dict[str, list[int]] = field(default_factory=dict)  # item id -> 0-based cells, in order
    preambles: dict[int, list[int]] = field(default_factory=dict)  # problem -> cells before its first item
    question_cells: dict[str, int] = field(default_factory=dict)  # item id -> the cell that asks it
    found_by: dict[str, str] = field(default_factory=dict)  # item id -> "tag" | "heading"

    def item_of(self, index: int) -> str | None:
        return next((item for item, cells in self.regions.items() if index in cells), None)


def locate(nb: nbformat.NotebookNode, item_ids: list[str]) -> Layout:
    known = set(item_ids)
    problems = {int(item.split(".")[0]) for item in item_ids}
    layout = Layout()
    problem: int | None = None
    item: str | None = None
    for index, cell in enumerate(nb.cells):
        tagged = _tagged_item(cell, known)
        if tagged is not None:
            role, found = tagged
            problem = int(found.split(".")[0])
            if found != item:
                item = found
                layout.found_by.setdefault(item, "tag")
            if role == "question":
                layout.question_cells.setdefault(item, index)
        else:
            for kind, number in _markers(cell):
                if kind == "problem" and number in problems:
                    problem, item = number, None
                elif kind == "item" and problem is not None and f"{problem}.{number}" in known:
                    if f"{problem}.{number}" != item:
                        item = f"{problem}.{number}"
                        layout.found_by.setdefault(item, "heading")
                    layout.question_cells.setdefault(item, index)
        if item is not None:
            layout.regions.setdefault(item, []).append(index)
        elif problem is not None:
            layout.preambles.setdefault(problem, []).append(index)
    return layout


def item_ids(nb: nbformat.NotebookNode) -> list[str]:
    """The item ids a notebook marks, in order, when they are not known in advance (an author's master):
    those of its `question:`/`answer:` tags when it has any, else its markdown problem headings' sub-items."""
    tagged = [match.group(2) for cell in nb.cells for tag in cell.get("metadata", {}).get("tags", []) or []
              if (match := _TAG.match(str(tag)))]
    if tagged:
        return list(dict.fromkeys(tagged))
    found: list[str] = []
    problem: int | None = None
    for cell in nb.cells:
        if cell.cell_type != "markdown":  # a code comment "# (2)" is a sub-item only of an item already known
            continue
        for kind, number in _markers(cell):
            if kind == "problem":
                problem = number
            elif problem is not None:
                found.append(f"{problem}.{number}")
    return list(dict.fromkeys(found))


def _tagged_item(cell: nbformat.NotebookNode, known: set[str]) -> tuple[str, str] | None:
    for tag in cell.get("metadata", {}).get("tags", []) or []:
        match = _TAG.match(str(tag))
        if match and match.group(2) in known:
            return match.group(1), match.group(2)
    return None


def _markers(cell: nbformat.NotebookNode) -> list[tuple[str, int]]:
    """Problem headings anywhere in a markdown cell; a sub-item marker on the
    cell's first line or right after a heading (elsewhere "(1)" is just text).
    In code, only a first-line comment like `# (2)` counts."""
    lines = cell.source.splitlines()
    if cell.cell_type == "code":
        first = next((line for line in lines if line.strip()), "")
        match = _SUB_ITEM.match(first) if first.lstrip().startswith("#") else None
        return [("item", int(match.group(1)))] if match else []
    if cell.cell_type != "markdown":
        return []
    found: list[tuple[str, int]] = []
    expect_item = True
    for line in lines:
        if not line.strip():
            continue
        sub_item = _SUB_ITEM.match(line)
        problem = _PROBLEM.match(line)
        if sub_item and (expect_item or line.lstrip().startswith("#")):
            found.append(("item", int(sub_item.group(1))))
        elif problem:
            found.append(("problem", int(problem.group(1))))
            expect_item = True
            continue
        expect_item = False
    return found


def added_text(template_text: str, student_text: str) -> str:
    """What the student wrote into a question cell: the text not in the template's."""
    matcher = SequenceMatcher(None, template_text, student_text, autojunk=False)
    pieces = [student_text[j1:j2] for op, _, _, j1, j2 in matcher.get_opcodes() if op in ("insert", "replace")]
    return " ".join(piece.strip() for piece in pieces if piece.strip())


def strip_marker(source: str) -> str:
    """The text of a cell after its leading sub-item marker."""
    match = _SUB_ITEM.match(source)
    return source[match.end():] if match else source
