"""`grader assign`: from one master notebook, the student template, the reference solution and a rubric skeleton.

The master is the exam as its author writes it, solutions included. Its conventions:

* Items are found as grading finds them (`grader.notebook.locate`): a cell tagged `question:P.N` (or
  `answer:P.N`) starts item P.N. In a master without such tags, a markdown problem heading (`## 1`,
  `## 문제 1`) followed by sub-item markers (`(1)`, `(2)`) does. The cells after it belong to the item until
  the next one starts.
* A solution is the lines between a `### BEGIN SOLUTION` line and a `### END SOLUTION` line (exact and
  case-sensitive, alone on their lines, indentation allowed), in code cells and in markdown cells: a True/False
  item may be answered inline, in its question's own markdown cell. Markers pair up within one cell; a BEGIN
  left open, an END without a BEGIN, or a BEGIN inside a solution is an error naming the cell and the line.
* A cell tagged `solution-only` (a check of the reference, a plot of its results) is left out of the template.

What is written into the output folder:

* template.ipynb: every solution, its markers included, replaced by one line `# YOUR CODE HERE` in code and
  `YOUR ANSWER HERE` in markdown, at the BEGIN line's indentation;
* solution.ipynb: the master without its marker lines;
* rubric.yaml, only when the folder has none: a skeleton with one check guessed per item
  (`grader.author.skeleton`), and in `execution.downloads` the URLs the master's code writes as string literals,
  unpinned. When it exists, the author's edits stay, the items the master gained are added, and URLs it does not
  list are reported.

Both notebooks have their outputs and execution counts cleared, their cell ids and metadata kept, and the tags
grading locates answers by: each item's first cell gets `question:P.N`, each other cell that held a solution
`answer:P.N`, unless the cell already carries a tag of that item. The notebooks are rewritten on every run.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import nbformat

from grader.assets.needs import downloads_used_by
from grader.author.skeleton import (RUBRIC_ID, RubricUpdate, SkeletonError, SkeletonItem, guess_check,
                                    skeleton_rubric, update_rubric)
from grader.notebook.answers import CODE_PLACEHOLDER, TEXT_PLACEHOLDER
from grader.notebook.locate import Layout, item_ids, locate
from grader.rubric.load import RUBRIC_FILE

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
SOLUTION_ONLY_TAG = "solution-only"
TEMPLATE_FILE = "template.ipynb"
SOLUTION_FILE = "solution.ipynb"
TITLE_LIMIT = 80  # characters of an item's title taken from its question

_HEADING = re.compile(r"^\s*#{1,6}\s+(?P<text>.*\S)")
_HEADING_HASHES = re.compile(r"^\s*#{1,6}\s*")
# A sub-item marker such as `(2)`, **(2)** or `` `(2)` ``; its backticks in pairs, so "(2) `X` is" keeps `X`'s.
_SUB_ITEM_MARKER = re.compile(r"^[*_\s]*(`?)\s*[(（]\s*\d+\s*[)）]\s*\1[*_\s]*")
_ITEM_TAG = re.compile(r"^(question|answer):(?P<item>\d+\.\d+)$")


class AssignError(Exception):
    """A master or output folder that cannot be used; the message names the file, the cell and what was expected."""


class MarkerError(ValueError):
    """Solution markers of one cell that do not pair up."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")


@dataclass(frozen=True)
class Solution:
    """One solution in a cell's source: the 0-based lines of its markers, and the BEGIN line's indentation."""

    begin: int
    end: int
    indent: str


RubricStatus = Literal["new", "updated", "unchanged"]  # what `assign` did to rubric.yaml


@dataclass(frozen=True)
class AssignReport:
    template: Path
    solution: Path
    rubric: Path
    rubric_status: RubricStatus
    items: list[SkeletonItem]  # every item of the master, in notebook order, with the check guessed for it
    new: list[str]  # items added to rubric.yaml (all of them for a new one)
    kept: list[str]  # items rubric.yaml already had: the author's, untouched
    missing: list[str]  # items of rubric.yaml the master no longer has
    downloads: list[str]  # the URLs a new rubric.yaml lists in execution.downloads, to be pinned
    warnings: list[str]


def assign(master: Path, out: Path) -> AssignReport:
    """Write template.ipynb, solution.ipynb and (new, or updated with the master's new items) rubric.yaml."""
    template_path, solution_path, rubric_path = out / TEMPLATE_FILE, out / SOLUTION_FILE, out / RUBRIC_FILE
    if master.resolve() in (template_path.resolve(), solution_path.resolve()):
        raise AssignError(f"{master}: the master would be overwritten by the {master.name} written from it; "
                          "give another --out folder, or rename the master")
    if out.exists() and not out.is_dir():
        raise AssignError(f"{out}: not a folder; --out names the rubric folder to write")
    nb = read_master(master)
    solutions = solutions_by_cell(nb, master)
    ids = item_ids(nb)
    if not ids:
        raise AssignError(f"{master}: no items found: tag each question's cell `question:P.N` (e.g. question:4.2), "
                          "or head each problem `## 2` and its sub-items `(1)`, `(2)` in markdown")
    layout = locate(nb, ids)
    warnings = _unplaced_solutions(layout, solutions, master)
    items = [SkeletonItem(item_id, item_title(nb, layout, item_id, solutions),
                          guess_check(item_solution_texts(nb, layout.regions[item_id], solutions)))
             for item_id in layout.regions]
    downloads = downloads_used_by(nb)

    status: RubricStatus
    if rubric_path.exists():
        rubric = _updated_rubric(rubric_path, items, master, downloads)
        status = "updated" if rubric.new else "unchanged"
    else:
        rubric = _new_rubric(out, notebook_title(nb, solutions, master.stem), items, master, downloads)
        status = "new"
    warnings += rubric.warnings
    warnings += [f"item {item_id} has no solution between markers: its skeleton check is manual, without guidance"
                 for item_id in rubric.new if not any(index in solutions for index in layout.regions[item_id])]

    tags = answer_tags(layout, solutions)
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(template_notebook(nb, solutions, tags), template_path)
    nbformat.write(solution_notebook(nb, solutions, tags), solution_path)
    if status != "unchanged":
        rubric_path.write_text(rubric.text, encoding="utf-8")
    return AssignReport(template=template_path, solution=solution_path, rubric=rubric_path, rubric_status=status,
                        items=items, new=rubric.new, kept=rubric.kept, missing=rubric.missing,
                        downloads=downloads if status == "new" else [], warnings=warnings)


def _new_rubric(out: Path, title: str, items: list[SkeletonItem], master: Path, downloads: list[str]) -> RubricUpdate:
    rubric_id = out.resolve().name
    if not RUBRIC_ID.match(rubric_id):
        raise AssignError(f"{out}: the rubric's id is its folder's name, which must be lowercase letters, digits, "
                          f"'.', '_' and '-', starting with a letter or digit (got {rubric_id!r})")
    master_path = os.path.relpath(master.resolve(), out.resolve())
    return RubricUpdate(text=skeleton_rubric(rubric_id, title, items, master.name, master_path, downloads),
                        new=[item.id for item in items], kept=[], missing=[], warnings=[])


def _updated_rubric(path: Path, items: list[SkeletonItem], master: Path, downloads: list[str]) -> RubricUpdate:
    try:
        return update_rubric(path.read_text(encoding="utf-8"), path, items, master.name, downloads)
    except SkeletonError as err:
        raise AssignError(str(err)) from None


def read_master(path: Path) -> nbformat.NotebookNode:
    if not path.is_file():
        raise AssignError(f"{path}: no such notebook")
    try:
        return nbformat.reads(path.read_bytes().decode("utf-8"), as_version=4)
    except Exception as err:  # nbformat raises several unrelated types
        raise AssignError(f"{path}: not a readable notebook ({err})") from None


# -- solution markers -----------------------------------------------------------------------------------------


def solutions_in(source: str) -> list[Solution]:
    """The solutions of one cell's source, in order; a MarkerError when its markers do not pair up."""
    solutions: list[Solution] = []
    opened: Solution | None = None
    for number, line in enumerate(source.split("\n")):
        marker = line.strip()
        if marker == BEGIN_MARKER:
            if opened is not None:
                raise MarkerError(number + 1, f"`{BEGIN_MARKER}` inside the solution opened on line "
                                              f"{opened.begin + 1}: expected `{END_MARKER}` first")
            opened = Solution(begin=number, end=number, indent=line[: len(line) - len(line.lstrip())])
        elif marker == END_MARKER:
            if opened is None:
                raise MarkerError(number + 1, f"`{END_MARKER}` without a `{BEGIN_MARKER}` before it")
            solutions.append(Solution(begin=opened.begin, end=number, indent=opened.indent))
            opened = None
    if opened is not None:
        raise MarkerError(opened.begin + 1, f"`{BEGIN_MARKER}` is not closed: expected `{END_MARKER}` "
                                            "later in the same cell")
    return solutions


def solutions_by_cell(nb: nbformat.NotebookNode, master: Path) -> dict[int, list[Solution]]:
    """0-based cell -> its solutions, for the code and markdown cells that have any."""
    found: dict[int, list[Solution]] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type not in ("code", "markdown"):
            continue
        try:
            solutions = solutions_in(cell.source)
        except MarkerError as err:
            raise AssignError(f"{master}: cell {index + 1} ({cell.cell_type}), {err}") from None
        if solutions:
            found[index] = solutions
    return found


def template_source(source: str, cell_type: str, solutions: list[Solution]) -> str:
    """The cell as students get it: each solution, its markers included, replaced by one placeholder line."""
    lines = source.split("\n")
    placeholder = CODE_PLACEHOLDER if cell_type == "code" else TEXT_PLACEHOLDER
    for solution in reversed(solutions):
        lines[solution.begin: solution.end + 1] = [solution.indent + placeholder]
    return "\n".join(lines)


def solution_source(source: str, solutions: list[Solution]) -> str:
    """The cell with its marker lines removed and its solutions kept."""
    markers = {line for solution in solutions for line in (solution.begin, solution.end)}
    return "\n".join(line for number, line in enumerate(source.split("\n")) if number not in markers)


def solution_texts(source: str, solutions: list[Solution]) -> list[str]:
    """What each solution says: the lines between its markers."""
    lines = source.split("\n")
    return ["\n".join(lines[solution.begin + 1: solution.end]) for solution in solutions]


def _outside_solutions(source: str, solutions: list[Solution]) -> list[str]:
    inside = {line for solution in solutions for line in range(solution.begin, solution.end + 1)}
    return [line for number, line in enumerate(source.split("\n")) if number not in inside]


# -- items ----------------------------------------------------------------------------------------------------


def item_solution_texts(nb: nbformat.NotebookNode, cells: list[int],
                        solutions: dict[int, list[Solution]]) -> list[tuple[str, str]]:
    """(cell type, solution text) of each solution in an item's cells, in order."""
    return [(nb.cells[index].cell_type, text) for index in cells
            for text in solution_texts(nb.cells[index].source, solutions.get(index, []))]


def item_title(nb: nbformat.NotebookNode, layout: Layout, item_id: str, solutions: dict[int, list[Solution]]) -> str:
    """The first non-empty line of the item's question, without heading `#`s, its sub-item marker or solutions."""
    index = layout.question_cells.get(item_id, layout.regions[item_id][0])
    for line in _outside_solutions(nb.cells[index].source, solutions.get(index, [])):
        title = _SUB_ITEM_MARKER.sub("", _HEADING_HASHES.sub("", line)).strip()
        if title:
            return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…"
    return f"item {item_id}"


def notebook_title(nb: nbformat.NotebookNode, solutions: dict[int, list[Solution]], fallback: str) -> str:
    """The text of the master's first markdown heading (a marker line, a heading too, is not one)."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for line in _outside_solutions(cell.source, solutions.get(index, [])):
            heading = _HEADING.match(line)
            if heading:
                return heading.group("text").strip("# ")
    return fallback


def answer_tags(layout: Layout, solutions: dict[int, list[Solution]]) -> dict[int, list[str]]:
    """0-based cell -> the tags it gets: `question:P.N` on each item's first cell, `answer:P.N` on each other
    cell of the item that holds a solution."""
    tags: dict[int, list[str]] = {}
    for item_id, cells in layout.regions.items():
        tags.setdefault(cells[0], []).append(f"question:{item_id}")
        for index in cells[1:]:
            if index in solutions:
                tags.setdefault(index, []).append(f"answer:{item_id}")
    return tags


def _unplaced_solutions(layout: Layout, solutions: dict[int, list[Solution]], master: Path) -> list[str]:
    return [f"{master.name}: cell {index + 1} holds a solution but belongs to no item: students get the "
            "placeholder, and no check grades it" for index in solutions if layout.item_of(index) is None]


# -- notebooks ------------------------------------------------------------------------------------------------


def template_notebook(master: nbformat.NotebookNode, solutions: dict[int, list[Solution]],
                      tags: dict[int, list[str]]) -> nbformat.NotebookNode:
    """The master with its solutions replaced by placeholders, without its solution-only cells."""
    template = copy.deepcopy(master)
    for index, cell in enumerate(template.cells):
        if index in solutions:
            cell.source = template_source(cell.source, cell.cell_type, solutions[index])
        _prepare(cell, tags.get(index, []))
    template.cells = [cell for cell in template.cells if SOLUTION_ONLY_TAG not in cell.metadata.get("tags", [])]
    return template


def solution_notebook(master: nbformat.NotebookNode, solutions: dict[int, list[Solution]],
                      tags: dict[int, list[str]]) -> nbformat.NotebookNode:
    """The master without its marker lines."""
    solution = copy.deepcopy(master)
    for index, cell in enumerate(solution.cells):
        if index in solutions:
            cell.source = solution_source(cell.source, solutions[index])
        _prepare(cell, tags.get(index, []))
    return solution


def _prepare(cell: nbformat.NotebookNode, tags: list[str]) -> None:
    """Outputs cleared (an author's run would carry the reference's numbers); the item tags a cell lacks added."""
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    present = list(cell.metadata.get("tags", []))
    items_tagged = {match.group("item") for tag in present if (match := _ITEM_TAG.match(str(tag)))}
    added = [tag for tag in tags if tag.split(":")[1] not in items_tagged]
    if added:
        cell.metadata["tags"] = present + added
