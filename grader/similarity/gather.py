"""The comparison's inputs from a graded folder: the gradebook's results, the executed notebooks the batch wrote,
and the submitted notebooks, read again from where `grader grade` found them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader.gradebook import Gradebook
from grader.lms.roster import RosterError, read_roster
from grader.notebook.locate import locate
from grader.notebook.read import NotebookError, read_notebook
from grader.paths import EXECUTED_DIR
from grader.results import SubmissionResult
from grader.rubric import LoadedRubric
from grader.similarity.outputs import EMPTY, CellOutputs
from grader.similarity.pairs import CodeCell, Template, Work
from grader.submission import Submission, discovered
from grader.unzip import ZipRefused

@dataclass
class Gathered:
    works: list[Work]
    template: Template
    notes: list[str] = field(default_factory=list)  # for the TA: what could not be compared, and why


def gather(out: Path, gradebook: Gradebook, rubric: LoadedRubric, submissions: Path | None = None) -> Gathered:
    """Every graded submission of `gradebook` as a `Work`. `submissions`: where the submitted notebooks are
    (default: where the gradebook says `grader grade` read them). A submission whose file is gone is compared by
    its code and re-run alone, and the notes say so."""
    notes: list[str] = []
    results = {result.student: result for result in gradebook.results()}
    unreadable: dict[str, str] = {}
    submitted, where = _submitted(gradebook, rubric, submissions, set(results), notes, unreadable)
    item_ids = [item.id for item in rubric.spec.items]
    works = []
    for student, result in sorted(results.items()):
        executed = _read(out / EXECUTED_DIR / f"{student}.ipynb")
        stored = submitted.get(student)
        if stored is None and executed is None:
            notes.append(f"{_label(result)}: no notebook to compare ({result.error or 'it did not run'})")
            continue
        if stored is None and student in unreadable:
            notes.append(f"{_label(result)}: its submitted notebook could not be read again ({unreadable[student]}); "
                         "compared by its code and its re-run alone")
        elif stored is None and where is not None:
            notes.append(f"{_label(result)}: its submitted notebook is not in {where} any more; compared by its code "
                         "and its re-run alone")
        works.append(_work(result, stored, executed, item_ids))
    given = [rubric.template] + ([solution] if (solution := _read(rubric.solution_path)) is not None else [])
    code = tuple(cell.source for notebook in given for cell in notebook.cells if cell.cell_type == "code")
    outputs = CellOutputs.of(output for notebook in given for cell in notebook.cells if cell.cell_type == "code"
                             for output in cell.get("outputs", []))
    return Gathered(works, Template(code, outputs), notes)


def _submitted(gradebook: Gradebook, rubric: LoadedRubric, folder: Path | None, students: set[str],
               notes: list[str], unreadable: dict[str, str]) -> tuple[dict[str, nbformat.NotebookNode], Path | None]:
    """The submitted notebooks by student key, and where they were looked for; `unreadable` gets why a
    submission's notebook could not be read again."""
    sources = gradebook.sources()
    if folder is None:
        if sources is None:
            notes.append("the gradebook does not say where the submissions were; stored outputs were not compared "
                         "(give --submissions)")
            return {}, None
        folder = Path(sources.submissions)
    if not folder.exists():
        notes.append(f"{folder} is not there any more; stored outputs were not compared (give --submissions)")
        return {}, folder
    try:
        roster_path = gradebook.roster_path()
        roster = read_roster(roster_path) if roster_path is not None else None
    except (RosterError, OSError) as err:
        notes.append(f"the roster could not be read again ({err}); submissions matched by their file names")
        roster = None
    found: dict[str, nbformat.NotebookNode] = {}
    try:
        with discovered(folder, rubric.spec.submission.notebook, roster) as listed:
            for submission in listed:
                if submission.key in students:
                    try:
                        found[submission.key] = _submitted_notebook(submission)
                    except (NotebookError, ZipRefused, OSError, ValueError) as err:
                        unreadable[submission.key] = str(err)
    except (OSError, ZipRefused) as err:
        notes.append(f"{folder} could not be read again ({err}); stored outputs were not compared")
    return found, folder


def _submitted_notebook(submission: Submission) -> nbformat.NotebookNode:
    if submission.error is not None:
        raise ValueError(submission.error)
    with submission.files() as files:
        return read_notebook(submission.notebook_at(files)).notebook  # ValueError when it holds no notebook


def _read(path: Path) -> nbformat.NotebookNode | None:
    try:
        return read_notebook(path).notebook if path.is_file() else None
    except NotebookError:
        return None


def _work(result: SubmissionResult, stored: nbformat.NotebookNode | None,
          executed: nbformat.NotebookNode | None, item_ids: list[str]) -> Work:
    notebook = stored if stored is not None else executed
    assert notebook is not None
    layout = locate(notebook, item_ids)
    cells = tuple(CodeCell(index, layout.item_of(index), cell.source) for index, cell in enumerate(notebook.cells)
                  if cell.cell_type == "code" and cell.source.strip())
    stored_outputs = _outputs(stored)
    executed_outputs = _outputs(executed)
    errors: dict[str, bool] = {}
    for outputs in [*stored_outputs.values(), *executed_outputs.values()]:
        for text, own in outputs.errors.items():
            errors[text] = errors.get(text, False) or own
    return Work(result.student, _label(result), cells, stored_outputs, executed_outputs, errors,
                _wrong_answers(result, layout.regions, executed_outputs), result.name)


def _wrong_answers(result: SubmissionResult, regions: dict[str, list[int]],
                   executed: dict[int, CellOutputs]) -> dict[str, str]:
    """Item -> the student's wrong answer: the answer read (True/False, choices) or the numbers its cells print
    when re-run. An item that failed for want of a run (no images, a crash) has no answer to share."""
    wrong = {}
    for item in result.items:
        if item.status not in ("fail", "partial"):
            continue
        if item.answer:
            wrong[item.id] = f"answered {item.answer}"
            continue
        numbers = sorted({number for cell in regions.get(item.id, []) for number in executed.get(cell, EMPTY).numbers})
        if numbers:
            wrong[item.id] = "printed " + ", ".join(numbers[:8]) + (" …" if len(numbers) > 8 else "")
    return wrong


def _outputs(notebook: nbformat.NotebookNode | None) -> dict[int, CellOutputs]:
    if notebook is None:
        return {}
    return {index: CellOutputs.of(cell.get("outputs", [])) for index, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" and cell.get("outputs")}


def _label(result: SubmissionResult) -> str:
    return f"{result.name} ({result.student})" if result.name else result.student

