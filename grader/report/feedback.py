"""Feedback a student may be handed: one HTML page per submission, and the same as plain text for an LMS.

The gradebook's results hold what only a TA may see beside what the student may: checks' `detail`
(expected values, the true/false and multiple choice keys, the guidance and keywords of a manual item), the TA's notes,
the reason a TA gave for a score (only its comment is for the student), the integrity flag, hashes and paths of the grading machine, the grader's figures and printed values.
So the page is not rendered from the results: `feedback()` first copies out what may be shown, and the
template and the plain text see only that copy. A field left out of it cannot leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import Template

from grader.gradebook import RubricSummary
from grader.report.render import environment, problem_groups, write_html
from grader.results import (
    CellRun,
    CheckResult,
    ItemResult,
    SubmissionResult,
    student_flag_lines,
)
from grader.scoring import waiting_for_ta

# An item's status as a student reads it; the key is also the badge's colour in report.css.
ITEM_STATUS_WORDS = {
    "pass": "full points",
    "partial": "part of the points",
    "fail": "no points",
    "manual": "to be graded",  # by a TA; never "0 points, failed" while no one has looked at it
    "error": "could not be checked",
    "not-reached": "not reached",
    "void": "withdrawn by the instructor",
}
# Cells that stopped, as a student reads it. "not-run" cells are left out: the flag that stopped the
# notebook (timeout, kernel-died) says why the cells after it did not run.
CELL_STATUS_WORDS = {"error": "raised an error", "timeout": "stopped at the time limit", "died": "Python stopped"}
ERROR_LINE_CHARS = 300  # a first line can be a whole printed tensor
CHECK_MARKS = {True: ("✓", "ok"), False: ("✗", "bad"), None: ("…", "wait")}


@dataclass(frozen=True)
class CheckLine:
    """A check of a public item: its name, verdict and message (never its detail)."""

    mark: str
    tone: str  # a class of report.css: ok, bad, wait
    name: str
    points: float
    max_points: float
    message: str


@dataclass(frozen=True)
class ItemFeedback:
    """One item as the student sees it: the kind of item decides which of the optional fields are set."""

    id: str
    title: str
    points: float | None  # None while a TA has yet to score it
    max_points: float
    status: str  # ItemResult.status, or "error" when the submission has no result for the item
    status_words: str
    message: str  # for true/false and multiple choice items, the answer as read (or why none could be)
    answer_text: str | None  # manual items: what the student wrote
    ta_note: str | None  # set when a TA scored or changed the item: what was done, and the comment to the student
    checks: tuple[CheckLine, ...]  # public items only


@dataclass(frozen=True)
class ProblemFeedback:
    number: int
    points: float
    max_points: float
    items: tuple[ItemFeedback, ...]


@dataclass(frozen=True)
class StoppedCell:
    cell: int  # 1-based, markdown cells counted
    what: str
    error: str  # the first line only
    answer_note: str | None = None  # the cell is only an answer, read from its text: its error costs nothing


@dataclass(frozen=True)
class Feedback:
    """Everything one student's page shows, and all that the template and the plain text are given."""

    exam: str
    name: str
    student_id: str | None
    total: float
    max_points: float
    status: str  # a sentence for the student
    tone: str  # ok, wait or bad (report.css)
    flags: tuple[str, ...]  # what got in the notebook's way, one sentence each
    cells: tuple[StoppedCell, ...]
    problems: tuple[ProblemFeedback, ...]
    graded_at: str
    late: str | None = None  # the late policy's note: how late, what it cost
    late_points: float = 0.0  # what it took off the total


def feedback(rubric: RubricSummary, result: SubmissionResult) -> Feedback:
    """What the student may see of `result` (with manual scores applied, as `Gradebook.results()` reads it)."""
    items = {item.id: item for item in result.items}
    status, tone = _submission_status(result)
    return Feedback(
        exam=rubric.title, name=result.name or result.student, student_id=result.student_id,
        total=result.total, max_points=result.max, status=status, tone=tone,
        flags=tuple(student_flag_lines(result.flags)),
        cells=tuple(_stopped(cell) for cell in result.cells if cell.status in CELL_STATUS_WORDS),
        problems=tuple(_problem(number, specs, items) for number, specs in problem_groups(rubric)),
        graded_at=result.graded_at, late=result.late_note, late_points=result.late_deduction,
    )


def _submission_status(result: SubmissionResult) -> tuple[str, str]:
    """A submission held for review only for the integrity flag reads "graded": the flag is the TA's to raise."""
    if result.status == "error":
        return f"could not be graded: {result.error or 'see the items below'}", "bad"
    if waiting_for_ta(result.items):
        return "some answers are still being graded by a TA", "wait"
    return "graded", "ok"


def _stopped(cell: CellRun) -> StoppedCell:
    lines = (cell.error or "").strip().splitlines()
    first = lines[0] if lines else ""
    if len(first) > ERROR_LINE_CHARS:
        first = first[:ERROR_LINE_CHARS] + "…"
    return StoppedCell(cell=cell.cell, what=CELL_STATUS_WORDS[cell.status], error=first, answer_note=cell.answer_note)


def _problem(number: int, specs: list[dict], items: dict[str, ItemResult]) -> ProblemFeedback:
    shown = tuple(_item(spec, items.get(spec["id"])) for spec in specs)
    return ProblemFeedback(number=number, points=sum(item.points or 0.0 for item in shown),
                           max_points=sum(spec["points"] for spec in specs), items=shown)


def _item(spec: dict, item: ItemResult | None) -> ItemFeedback:
    if item is None:  # a submission that could not be read may have no item results at all
        return ItemFeedback(id=spec["id"], title=spec["title"], points=0.0, max_points=spec["points"], status="error",
                            status_words=ITEM_STATUS_WORDS["error"], message="not graded", answer_text=None,
                            ta_note=None, checks=())
    kinds = spec["kinds"]
    scored_by_ta = item.manual is not None and item.manual.kind == "manual"
    return ItemFeedback(
        id=item.id, title=spec["title"], points=None if item.status == "manual" else item.points,
        max_points=item.max_points, status=item.status, status_words=ITEM_STATUS_WORDS[item.status],
        # Once a TA scored it, a manual item's message names the TA: the note below says it in the student's words.
        message="" if scored_by_ta else item.message,
        answer_text=item.answer if "manual" in kinds else None,
        ta_note=_ta_note(item),
        checks=tuple(_check_line(check) for check in item.checks) if _shows_checks(spec, item) else (),
    )


def _shows_checks(spec: dict, item: ItemResult) -> bool:
    """A public item's checks, one line each; not when the item's message is its one check's already (a true/false
    or multiple choice answer as read), nor for a TA's score."""
    kinds = spec["kinds"]
    said = kinds[0] in ("true_false", "multiple_choice") and len(item.checks) == 1
    return spec["visibility"] == "public" and "manual" not in kinds and item.manual is None and not said


def _ta_note(item: ItemResult) -> str | None:
    """The TA's comment to the student, and for an override the automatic score it replaced. Not the TA's
    name (the gradebook keeps who graded for the course's records), nor the reason, which is for staff."""
    if item.manual is None:
        return None
    if item.manual.kind == "manual":
        done = "Graded by a TA"
    else:
        automatic = item.manual.automatic_points
        done = "Changed by a TA" + ("" if automatic is None else f" from {automatic:g} points")
    comment = item.manual.comment.strip()
    return f"{done}: {comment}" if comment else done


def _check_line(check: CheckResult) -> CheckLine:
    mark, tone = CHECK_MARKS[check.passed]
    return CheckLine(mark=mark, tone=tone, name=check.name, points=check.points, max_points=check.max_points,
                     message=check.message)


# -- output -------------------------------------------------------------------------------


@cache
def _page() -> Template:
    return environment().get_template("feedback.html.j2")


def feedback_html(rubric: RubricSummary, result: SubmissionResult) -> str:
    """A self-contained page (inline CSS, nothing fetched), autoescaped."""
    return _page().render(page=feedback(rubric, result))


def write_feedback(out_dir: Path, rubric: RubricSummary, results: list[SubmissionResult]) -> list[Path]:
    """`{student}.html` per result in `out_dir`, named as the TA's reports are; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for result in results:
        path = out_dir / f"{result.student}.html"
        write_html(path, feedback_html(rubric, result))
        written.append(path)
    return written


def feedback_text(rubric: RubricSummary, result: SubmissionResult) -> str:
    """The page as a few lines of plain text, for an LMS's feedback cell (Moodle's grade CSV "Feedback")."""
    page = feedback(rubric, result)
    lines = [page.status] if page.status != "graded" else []
    lines += page.flags
    lines += [page.late + (f" (the total is after the −{page.late_points:g})" if page.late_points else "")] \
        if page.late else []
    lines += [(f"cell {cell.cell} {cell.what}: {cell.error}" if cell.error else f"cell {cell.cell} {cell.what}")
              + (f" ({cell.answer_note})" if cell.answer_note else "") for cell in page.cells]
    lines += [_item_line(item) for problem in page.problems for item in problem.items]
    lines.append(f"Total: {page.total:g}/{page.max_points:g}")
    return "\n".join(lines)


def _item_line(item: ItemFeedback) -> str:
    """ "4.2 (3/5) ✓ weights after an update": one line, whatever line breaks a comment has."""
    points = "–" if item.points is None else f"{item.points:g}"
    text = " · ".join(part for part in (item.message, item.ta_note) if part)
    return " ".join(f"{item.id} ({points}/{item.max_points:g}) {text}".split())
