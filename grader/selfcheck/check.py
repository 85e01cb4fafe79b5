"""A student's self-check: run the notebook once and say what would cost points for form.

For every item: answered or not, true/false and multiple choice answers as read, whether its
cells ran, whether it prints where the question asks to, and the verdicts of
its public checks (the same check functions, on the same kind of evidence, as
grading). Hidden checks are only named: what the self-check says about a
hidden item depends on what the student wrote and whether it ran, never on
whether it is right.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from time import monotonic
from typing import Literal

from pydantic import BaseModel

from grader.assets.boxes import DrawnImage, drawn_images
from grader.checks import CHECKS, ItemContext, Trace
from grader.checks.context import blocked_reason, item_context
from grader.evidence.model import Evidence
from grader.evidence.offline import offline_notes, offline_run
from grader.execution import Execution
from grader.notebook.answers import AnswerReader, Snippet, answer_cells, read_answers
from grader.notebook.locate import locate
from grader.notebook.printed import printed_arrays
from grader.notebook.read import NotebookError, read_notebook
from grader.notebook.truefalse import Answer, ChoiceAnswer
from grader.rubric import Tolerance
from grader.run import NotebookRunner, RunnerError
from grader.selfcheck.public import HiddenCheck, LoadedPublicRubric, PublicCheck, PublicItem

MAX_ERROR_CHARS = 200
# Public checks compare nothing with a reference, so no tolerance applies; item contexts still carry one.
NO_TOLERANCE = Tolerance(rtol=0.0, atol=0.0)


class SelfCheckError(Exception):
    """The notebook could not be checked at all; the message says why and what to do."""


class Verdict(BaseModel):
    name: str
    points: float
    public: bool
    passed: bool | None = None  # None for hidden checks, and public ones that could not run
    message: str = ""


class ItemReport(BaseModel):
    id: str
    title: str
    points: float
    answer: str  # "answered", "(3) → True", "answered: 2, 4", "unanswered", "unreadable"
    ran: str | None = None  # items answered with code: "ran", or the cell that stopped it
    prints: bool | None = None  # when the question asks to print values: whether its cells print any
    checks: list[Verdict] = []
    problems: list[str] = []  # what would certainly cost points, besides failed public checks
    warnings: list[str] = []  # what may

    @property
    def failed_checks(self) -> list[Verdict]:
        return [verdict for verdict in self.checks if verdict.public and verdict.passed is False]


class CellProblem(BaseModel):
    cell: int  # 1-based
    item: str | None
    status: Literal["error", "timeout", "died", "not-run"]
    message: str
    answer_note: str | None = None  # the cell is only an answer, read from its text: its error costs nothing


class SelfCheckReport(BaseModel):
    notebook: str
    rubric: str
    title: str
    items: list[ItemReport]
    cells: list[CellProblem]
    notes: list[str]  # about the whole run: the time budget, how the notebook was read
    cpu_fallback: Literal["off", "on", "used"]
    cell_timeout_s: float  # the exam's time limits, as grading applies them
    notebook_timeout_s: float
    seconds: float

    @property
    def problems(self) -> int:
        """Problems that would certainly cost points: each item's, and crashing cells outside any item (not one
        that is only an answer, read from its text)."""
        outside = [cell for cell in self.cells
                   if cell.item is None and cell.status != "not-run" and cell.answer_note is None]
        return sum(len(item.problems) + len(item.failed_checks) for item in self.items) + len(outside)


class SelfChecker:
    """Checks students' notebooks against a public rubric; one instance serves any number of checks.

    runner: how kernels start; unsandboxed (it is the student's own machine), cold or from warm kernels.
    """

    def __init__(self, rubric: LoadedPublicRubric, runner: NotebookRunner) -> None:
        self.rubric = rubric
        self.runner = runner
        self.answers = AnswerReader(rubric.template, rubric.spec.item_ids)
        self._public_cam = any(isinstance(released, PublicCheck) and released.check.kind == "cam"
                               for item in rubric.spec.items for released in item.checks)
        # Public checks need no reference (the release refuses any that do); they are given an empty one.
        self._no_reference = Trace.of(Evidence())

    def check(self, notebook: Path) -> SelfCheckReport:
        started = monotonic()
        try:
            loaded = read_notebook(notebook)
        except NotebookError as err:
            raise SelfCheckError(str(err)) from None
        folder = notebook.parent
        self._check_folder_size(folder)
        try:
            execution = self.runner.run(loaded.notebook, folder)
        except RunnerError as err:
            raise SelfCheckError(f"the notebook could not be run: {err}") from None
        return self.report(notebook, loaded.notebook, folder, execution, loaded.notes, monotonic() - started)

    def report(self, notebook: Path, nb, folder: Path, execution: Execution, notes: list[str],
               seconds: float) -> SelfCheckReport:
        """The report on a notebook `nb` (as submitted) whose run is `execution`."""
        spec = self.rubric.spec
        layout = locate(nb, spec.item_ids)
        # With the notebook's regions: a `reproduces` check reads another item's cells.
        student = (dataclasses.replace(Trace.of(execution.evidence, execution.run_cells), regions=layout.regions)
                   if execution.evidence is not None else None)
        read = read_answers(self.answers, spec.item_ids, spec.true_false_items,
                            [group.items for group in spec.choose_all], spec.choice_options, nb, layout)
        snippets, answers, choices = read.snippets, read.true_false, read.choices
        printed_cells = {located.cell for located in printed_arrays(execution.notebook)}
        drawn = tuple(drawn_images(folder)) if self._public_cam else ()
        cell_item = {index + 1: item_id for item_id, cells in layout.regions.items() for index in cells}

        items = [
            self._item_report(item, layout.regions.get(item.id, []), nb, execution, student, snippets[item.id],
                              answers.get(item.id), printed_cells, drawn, choices.get(item.id))
            for item in spec.items
        ]
        cell_problems = [
            CellProblem(cell=cell.cell, item=cell_item.get(cell.cell), status=cell.status,
                        message=_first_line(cell.error or ""), answer_note=cell.answer_note)
            for cell in answer_cells(nb, execution.cells, read) if cell.status in ("error", "timeout", "died")
        ]
        run_notes = list(notes)
        if execution.stopped == "budget":
            run_notes.append(f"the notebook ran past its {self.runner.notebook_timeout_s:g} s budget in cell "
                             f"{execution.stopped_at + 1}; later cells did not run")
        elif execution.stopped == "kernel-died":
            run_notes.append(f"the kernel died in cell {execution.stopped_at + 1}; later cells did not run")
        if execution.evidence_error:
            run_notes.append(f"what the notebook computed could not be read: {execution.evidence_error}")
        offline = offline_run(execution.evidence) if execution.evidence is not None else None
        run_notes += offline_notes(offline) if offline is not None else []
        fallback: Literal["off", "on", "used"] = "off"
        if self.runner.cpu_fallback:
            fallback = "used" if execution.evidence is not None and execution.evidence.device_fallbacks else "on"
        return SelfCheckReport(
            notebook=notebook.name, rubric=self.rubric.spec.id, title=self.rubric.spec.title, items=items,
            cells=cell_problems, notes=run_notes, cpu_fallback=fallback,
            cell_timeout_s=self.runner.cell_timeout_s, notebook_timeout_s=self.runner.notebook_timeout_s,
            seconds=seconds)

    def _item_report(self, item: PublicItem, cells: list[int], nb, execution: Execution, student: Trace | None,
                     snippets: list[Snippet], answer: tuple[Answer, str | None] | None, printed_cells: set[int],
                     drawn: tuple[DrawnImage, ...], choice: ChoiceAnswer | None) -> ItemReport:
        if item.void_points is not None:  # graded for no one: nothing to check
            treated = "given to everyone" if item.void_points == "given" else "removed from the total"
            return ItemReport(id=item.id, title=item.title, points=item.points,
                              answer=f"withdrawn by the instructor (void): its points are {treated}")
        report = ItemReport(id=item.id, title=item.title, points=item.points, answer="")
        self._answer(report, item, cells, snippets, answer, choice)
        if item.needs_execution:
            self._ran(report, cells, execution, nb)
        if item.asks_to_print:
            report.prints = any(index + 1 in printed_cells for index in cells)
            if not report.prints:
                report.warnings.append("the question asks to print values, and its cells print none")
        public = item.public_part()
        ctx = blocked = None
        if public is not None:
            blocked = blocked_reason(item.needs_execution, cells, execution, student, None)
            ctx = item_context(public, NO_TOLERANCE, self._no_reference, student, nb, cells, execution,
                               snippets, answer, drawn, choice)
        report.checks = _gated([_verdict(released, ctx, blocked) for released in item.checks], item)
        if report.answer == "unanswered" and item.answer_kind == "code":
            public_passed = public is not None and all(verdict.passed for verdict in report.checks if verdict.public)
            if public_passed:
                report.warnings.append("no code of its own: what the public checks look for was found elsewhere")
            else:
                report.problems.insert(0, "no code was written for it: its cells are as the template has them")
        return report


    def _answer(self, report: ItemReport, item: PublicItem, cells: list[int], snippets: list[Snippet],
                answer: tuple[Answer, str | None] | None, choice: ChoiceAnswer | None) -> None:
        problem, number = item.id.split(".")
        if not cells:
            report.answer = "not found"
            report.problems.append(f"no cell of the notebook is ({number}) of problem {problem}: keep the template's "
                                   f"question cells, or a `({number})` heading under the problem's heading")
            return
        if item.answer_kind == "true_false":
            read, note = answer if answer is not None else (Answer(None, "unanswered", ""), None)
            if read.status == "answered":
                report.answer = f"({number}) → {read.value}" + (f" ({note})" if note else "")
            elif read.status == "unanswered":
                report.answer = "unanswered"
                report.problems.append("no true/false answer was found")
            else:
                report.answer = "unreadable"
                report.problems.append(f"{_cut(read.source)!r} could not be read as one answer: write True or "
                                       "False (O/X and 참/거짓 are read too)")
        elif item.answer_kind == "choice":
            read_choice = choice or ChoiceAnswer(None, "unanswered", "")
            offered = f" (the options are {', '.join(map(str, item.options))})" if item.options else ""
            if read_choice.status == "answered":
                report.answer = f"answered: {read_choice.listed}"
            elif read_choice.status == "unanswered":
                report.answer = "unanswered"
                report.problems.append(f"no answer was found: write the numbers of the options you choose{offered}")
            else:
                report.answer = "unreadable"
                report.problems.append(f"{_cut(read_choice.source)!r} could not be read as the numbers of the options "
                                       f"you choose{offered}: write only the numbers, e.g. 2, 4 or (2), (4) or "
                                       "[2, 4] or 2번, 4번 or 답: 2, 4")
        elif item.answer_kind == "text":
            report.answer = "answered" if any(snippet.text.strip() for snippet in snippets) else "unanswered"
            if report.answer == "unanswered":
                report.problems.append("nothing was written for it")
        else:
            report.answer = "answered" if any(snippet.kind == "code" for snippet in snippets) else "unanswered"

    def _ran(self, report: ItemReport, cells: list[int], execution: Execution, nb) -> None:
        code_cells = [index for index in cells if nb.cells[index].cell_type == "code" and nb.cells[index].source.strip()]
        if not code_cells:
            return
        stopped = next(((index, execution.status_of(index)) for index in code_cells
                        if execution.status_of(index) not in (None, "ok")), None)
        if stopped is None:
            report.ran = "ran"
            return
        index, status = stopped
        run = next(cell for cell in execution.cells if cell.cell == index + 1)
        report.ran = {
            "error": f"cell {index + 1} raised {_first_line(run.error or '')}",
            "timeout": f"cell {index + 1} ran past the {self.runner.cell_timeout_s:g} s limit for a cell",
            "died": f"the kernel died in cell {index + 1}",
        }.get(status, f"cell {index + 1} did not run: execution stopped in cell "
                      f"{(execution.stopped_at or 0) + 1} ({execution.stopped})")
        report.problems.append(report.ran)

    def _check_folder_size(self, folder: Path) -> None:
        """The run copies the notebook's folder (never runs in place): refuse one too big to copy."""
        limit = self.rubric.spec.execution.disk_mb * 2**20
        total = 0
        for root, _, files in os.walk(folder):
            for name in files:
                total += os.lstat(os.path.join(root, name)).st_size
                if total > limit:
                    raise SelfCheckError(
                        f"{folder} holds more than {limit // 2**20} MB, the exam's disk limit; the check runs a copy "
                        "of the notebook's folder: put the notebook and its data in a folder of their own")


def _gated(verdicts: list[Verdict], item: PublicItem) -> list[Verdict]:
    """As grading does: a public rule that gates the item and fails leaves the item's other checks no points."""
    closed = next((verdict.name for released, verdict in zip(item.checks, verdicts) if verdict.passed is False
                   and isinstance(released, PublicCheck) and getattr(released.check, "gate", False)), None)
    if closed is None:
        return verdicts
    why = f"0 points: the item's rule '{closed}' failed"
    return [verdict if verdict.name == closed or not verdict.public else verdict.model_copy(update={
        "passed": False, "message": f"{verdict.message}; {why}" if verdict.message else why}) for verdict in verdicts]


def _verdict(released: PublicCheck | HiddenCheck, ctx: ItemContext | None, blocked: tuple[str, str] | None) -> Verdict:
    if isinstance(released, HiddenCheck):
        return Verdict(name=released.name, points=released.points, public=False, message="checked at grading")
    check = released.check
    if blocked is not None:
        return Verdict(name=check.name, points=check.points, public=True, passed=False,
                       message=f"not checked: {blocked[1]}")
    assert ctx is not None
    result = CHECKS[check.kind](check, ctx)
    return Verdict(name=check.name, points=check.points, public=True, passed=result.passed, message=result.message)


def _first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return _cut(line)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + "…"
