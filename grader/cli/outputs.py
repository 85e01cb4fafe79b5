"""Commands on a grading run's folder: `report`, `export`, `feedback` and `set` read its gradebook and write there."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from grader.batch import write_outputs
from grader.cli.common import GradebookOption, RunOutOption, fail, open_gradebook
from grader.export.formats import DEFAULT_NAMES, FORMATS, ExportOptions
from grader.export.formats import export as export_as
from grader.gradebook import GradebookError
from grader.lms.export import ExportError
from grader.lms.roster import RosterError
from grader.lms.rows import ExportChoices
from grader.report.feedback import write_feedback

console = Console(stderr=True, soft_wrap=True, markup=False, emoji=False)  # text, not Rich markup


def report(out: RunOutOption = None, gradebook: GradebookOption = None) -> None:
    """Re-render results.json and the HTML reports from the gradebook."""
    with open_gradebook(out, gradebook, must_exist=True) as book:
        results = write_outputs(out, book)
    console.print(f"{len(results)} report(s) · {out / 'index.html'}", highlight=False)


def export(
    format: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}.")] = "csv",
    out: RunOutOption = None,
    gradebook: GradebookOption = None,
    to: Annotated[Optional[Path], typer.Option("--to", help="File to write (a folder for gradescope) "
                                                              "\\[default: OUT/<a name for the format>].")] = None,
    roster: Annotated[Optional[Path], typer.Option(
        "--roster", help="canvas: the course's gradebook export, written back with the exam's column filled; "
                         "moodle: the assignment's grading worksheet, written back with Grade and Feedback comments "
                         "filled, or the participants export; or a plain id,name,email,section CSV "
                         "\\[default: the roster given to grade].")] = None,
    column: Annotated[Optional[str], typer.Option(
        "--column", help="canvas: the exam's column, e.g. 'Midterm (12345)' \\[default: the export's only "
                         "assignment column; without an export, the rubric's title].")] = None,
    key: Annotated[str, typer.Option("--key", help="moodle's grade CSV: match students by idnumber or email (a "
                                                   "grading worksheet matches by participant id).")] = "idnumber",
    partial: Annotated[bool, typer.Option("--partial", help="Export totals of submissions whose manual items are "
                                                            "not graded yet (otherwise left empty).")] = False,
    missing_zero: Annotated[bool, typer.Option("--missing-zero", help="Students on the roster without a "
                                                                      "submission get 0 where the LMS has no grade "
                                                                      "(otherwise left as they are).")] = False,
    refused_zero: Annotated[bool, typer.Option(
        "--refused-zero", help="Submissions the grader refused (not a notebook, a refused zip, a notebook it "
                               "cannot read) get 0 where the LMS has no grade (otherwise left as they are and "
                               "listed under needs attention).")] = False,
    bom: Annotated[bool, typer.Option("--bom", help="Start CSV files with a byte-order mark (for Excel); an LMS's "
                                                    "own file keeps the one it has.")] = False,
    feedback_zip: Annotated[Optional[Path], typer.Option(
        "--feedback-zip", help="moodle: also write the students' feedback pages as a zip for Moodle's "
                               "'upload multiple feedback files in a zip'.")] = None,
) -> None:
    """Export the gradebook (manual scores and late deductions applied) for spreadsheets and LMSs."""
    if format not in FORMATS:
        raise fail(f"unknown format {format!r}; choose one of: {', '.join(FORMATS)}")
    if key not in ("idnumber", "email"):
        raise fail(f"--key {key}: expected idnumber or email")
    with open_gradebook(out, gradebook, must_exist=True) as book:
        options = ExportOptions(roster=roster or book.roster_path(), column=column, moodle_key=key, bom=bom,
                                choices=ExportChoices(partial=partial, missing_zero=missing_zero,
                                                      refused_zero=refused_zero),
                                feedback_zip=feedback_zip)
        target = to or out / DEFAULT_NAMES[format]
        try:
            lines = export_as(format, target, book.rubric(), book.results(), options)
        except (RosterError, ExportError) as err:
            raise fail(str(err)) from None
    for line in lines:
        console.print(line, highlight=False)


def feedback(
    out: RunOutOption = None,
    gradebook: GradebookOption = None,
    to: Annotated[Optional[Path], typer.Option("--to", help="Folder for the pages \\[default: OUT/feedback].")] = None,
) -> None:
    """Write one feedback page per student, safe to hand out.

    Their items, points and messages; for hidden items no expected values, keys, rubric internals or
    reference code."""
    with open_gradebook(out, gradebook, must_exist=True) as book:
        pages = write_feedback(to or out / "feedback", book.rubric(), book.results())
    console.print(f"wrote {len(pages)} feedback page(s) in {to or out / 'feedback'}", highlight=False)


# What the gradebook's `GradebookError.field` is called on this command line.
SET_OPTIONS = {"reason": "--reason TEXT (staff only; --comment TEXT is what the student reads)", "by": "--by NAME"}


def set_score(
    student: Annotated[str, typer.Argument(help="Student key as in the reports (usually the student id).")],
    item: Annotated[str, typer.Argument(help="Item id, e.g. 4.2.")],
    points: Annotated[float, typer.Argument(help="Points to give.")],
    by: Annotated[str, typer.Option("--by", help="Who grades (stored with the score).")],
    comment: Annotated[str, typer.Option("--comment", help="For the student: shown on their feedback page, in "
                                                           "Gradescope and the LMS's feedback.")] = "",
    reason: Annotated[str, typer.Option("--reason", help="For staff only (TA reports, the history, results.json); "
                                                         "required to override an automatic score.")] = "",
    out: RunOutOption = None,
    gradebook: GradebookOption = None,
) -> None:
    """Record a manual score, or override an automatic one (with a reason)."""
    with open_gradebook(out, gradebook, must_exist=True) as book:
        try:
            score = book.set_score(student, item, points, comment, by, reason=reason)
        except GradebookError as err:
            option = SET_OPTIONS.get(err.field or "")
            raise fail(f"{err}: give it with {option}" if option else str(err)) from None
        write_outputs(out, book)
    console.print(f"{student} {item}: {score.points:g} points ({score.kind}) by {score.by}", highlight=False)
