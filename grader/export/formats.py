"""`grader export --format …`: the gradebook as the file each tool imports.

csv and json are ours (json is results.json); canvas, moodle and gradescope are the files those LMSs accept
unchanged. Every number comes from the gradebook as reports show it: manual scores and late deductions applied.
What an LMS export wrote, left out and why, and what needs a person's attention, is printed and kept in a log
beside the file (`canvas-import.csv` -> `canvas-import.log`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.export.csv_export import write_csv
from grader.export.gradescope import write_gradescope_results
from grader.export.results_json import write_results_json
from grader.gradebook import RubricSummary
from grader.lms.export import (ExportError, ExportRow, ExportSummary, write_canvas_import, write_canvas_minimal,
                               write_moodle_feedback_zip, write_moodle_grades, write_moodle_worksheet)
from grader.lms.roster import read_roster
from grader.lms.rows import ExportChoices, export_rows
from grader.report.feedback import feedback_html, feedback_text
from grader.results import SubmissionResult

FORMATS = ("csv", "json", "canvas", "moodle", "gradescope")
DEFAULT_NAMES = {"csv": "grades.csv", "json": "results.json", "canvas": "canvas-import.csv",
                 "moodle": "moodle-grades.csv", "gradescope": "gradescope"}


@dataclass(frozen=True)
class ExportOptions:
    roster: Path | None = None  # canvas: the course's gradebook export; moodle: the grading worksheet or participants
    column: str | None = None  # canvas: the exam's column, e.g. "Midterm (12345)"
    moodle_key: Literal["idnumber", "email"] = "idnumber"
    bom: bool = False  # a byte-order mark, for Excel (csv always has one; an LMS's own file keeps its own)
    choices: ExportChoices = ExportChoices()
    feedback_zip: Path | None = None  # moodle: also the feedback files, zipped for "upload feedback files"


def export(format: str, target: Path, rubric: RubricSummary, results: list[SubmissionResult],
           options: ExportOptions) -> list[str]:
    """Write `target`; returns lines for the TA: what was written, what was left out and why."""
    if format == "csv":
        write_csv(target, rubric, results)
        return [f"wrote {target}: {len(results)} student(s)"]
    if format == "json":
        write_results_json(target, rubric, results)
        return [f"wrote {target}: {len(results)} student(s)"]
    if format == "gradescope":
        target.mkdir(parents=True, exist_ok=True)
        for result in results:
            write_gradescope_results(target / f"{result.student}.json", rubric, result)
        return [f"wrote {len(results)} Gradescope results file(s) in {target}"]
    roster = read_roster(options.roster) if options.roster is not None else None
    rows = export_rows(results, roster, options.choices, lambda result: feedback_text(rubric, result))
    names = {row.student_key: row.entry.name if row.entry else row.name for row in rows}
    if format == "canvas":
        if roster is not None and roster.format == "moodle-worksheet":
            raise ExportError(f"{roster.path}: a Moodle grading worksheet: its ids are Moodle's participant ids, "
                              "which Canvas would take for its own; export it with --format moodle, or give Canvas's "
                              "gradebook export (--roster)")
        if roster is not None and roster.format == "canvas":
            summary = write_canvas_import(target, roster, options.column, rows, rubric.total, options.bom)
        else:
            summary = write_canvas_minimal(target, rows, options.column or rubric.title, rubric.total, options.bom)
        lines = _told(target, summary, names)
    elif roster is not None and roster.format == "moodle-worksheet":
        lines = _told(target, write_moodle_worksheet(target, roster, rows, options.bom), names)
        lines.append("upload it on the assignment's submissions page in Moodle: Upload grading worksheet, with Moodle "
                     "in English as when the worksheet was downloaded")
    else:
        lines = _told(target, write_moodle_grades(target, rows, options.moodle_key, options.bom), names)
    if format == "moodle" and options.feedback_zip is not None:
        lines += _told(options.feedback_zip, _feedback_zip(options.feedback_zip, rubric, results, rows), names)
    log = target.with_suffix(".log")
    lines.append(f"this report is kept in {log}")
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def _feedback_zip(path: Path, rubric: RubricSummary, results: list[SubmissionResult],
                  rows: list[ExportRow]) -> ExportSummary:
    """Each student's feedback page, named after the participant id of the Moodle download they came from."""
    # Only a Moodle download's ids are participant ids: a Canvas user id would name some other participant.
    participant_ids = {result.student: result.lms_user_id for result in results
                       if result.lms == "moodle" and result.lms_user_id}
    files = {result.student: feedback_html(rubric, result) for result in results}
    return write_moodle_feedback_zip(path, [row for row in rows if row.student_key in files], participant_ids, files)


def _told(target: Path, summary: ExportSummary, names: dict[str, str]) -> list[str]:
    """What a writer did, for the TA: students by key, and by name as the roster has it."""
    def who(key: str) -> str:
        return key if names.get(key, key) == key else f"{key} ({names[key]})"

    lines = [f"wrote {target}: {len(summary.written)} student(s)"]
    lines += [f"  left out {who(key)}: {why}" for key, why in summary.skipped.items()]
    if summary.attention:
        lines.append(f"needs attention ({len(summary.attention)}):")
        lines += [f"  {who(key)}: {why}" for key, why in summary.attention.items()]
    return lines
