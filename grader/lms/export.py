"""Files Canvas and Moodle import, written from rows the caller has already decided (who, what score, what feedback).

Canvas imports a gradebook CSV shaped like its own export: with the export at hand it is written back as read, with
the exam's column filled; without one, a minimal file holds just the columns Canvas finds students by. Moodle takes
a grade CSV keyed by ID number or email address, and feedback files in a zip named the way its bulk download names
submissions. Nothing here decides a score: a row without one leaves the student's grade alone.
"""

from __future__ import annotations

import csv
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.lms.roster import CanvasRow, CanvasSheet, Roster, RosterEntry

_CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
_POINTS_POSSIBLE = "    Points Possible"  # as Canvas writes it, leading spaces included
_ASSIGNMENT = re.compile(r"(?P<title>.+) \((?P<id>\d+)\)")  # an existing assignment's column: "Midterm (12345)"
# A column to add: a title, or a title and the assignment's id; parentheses only around the id, which Canvas reads.
_NEW_COLUMN = re.compile(r"[^\s()](?:[^\r\n()]*[^\s()])?(?: \(\d+\))?")
_READ_ONLY = re.compile(r"\(?read only\)?", re.IGNORECASE)
_NO_SCORE = "no score: its cell is left empty, so Canvas keeps the grade it has"
_NO_ENTRY = "matched no one on the roster"
# Kept out of a name in a zip member: `_` (Moodle reads the participant id after the first one), path separators,
# and what Windows refuses in file names.
_NOT_IN_FILE_NAMES = re.compile(r'[_/\\:*?"<>|\x00-\x1f\x7f]')


class ExportError(Exception):
    """A grade file that cannot be written as asked; the message says what to change."""


@dataclass(frozen=True)
class ExportRow:
    entry: RosterEntry | None  # None when the submission matched no roster entry
    student_key: str
    name: str
    student_id: str | None
    score: float | None  # None: no score to export (missing submission, or pending manual items not exported)
    feedback: str  # plain text, may be multi-line


@dataclass(frozen=True)
class ExportSummary:
    """What a writer put in its file, for the TA."""

    written: tuple[str, ...]  # student keys whose score (or feedback file) is in the file
    skipped: dict[str, str]  # student key -> why it is not


def write_canvas_import(path: Path, roster: Roster, column: str | None, rows: list[ExportRow],
                        points_possible: float, bom: bool) -> ExportSummary:
    """Canvas's gradebook export written back with the exam's column filled; every other cell as read.

    `column` is the assignment's header, e.g. `Midterm (12345)`; None picks the only assignment column there is.
    A column the export lacks is added, with `points_possible` in the Points Possible row.
    """
    sheet = roster.sheet
    if sheet is None:
        raise ExportError(f"{roster.path}: a {roster.format} roster, not a Canvas gradebook export: "
                          "export the gradebook from Canvas, or write the minimal Canvas import instead")
    column = _exam_column(roster.path, sheet, column)
    added = column not in sheet.header
    index = len(sheet.header) if added else sheet.header.index(column)

    entries = set(roster.entries)
    scores: dict[int, float | None] = {}  # line of the student's row -> score
    written: list[str] = []
    skipped: dict[str, str] = {}
    for row in rows:
        if row.entry is None:
            skipped[row.student_key] = _NO_ENTRY
            continue
        if row.entry not in entries:
            raise ValueError(f"{row.student_key}: its roster entry (line {row.entry.row}) is not from {roster.path}")
        if row.entry.row in scores:
            raise ValueError(f"{row.student_key}: line {row.entry.row} of {roster.path} is exported twice")
        scores[row.entry.row] = row.score
        _tally(row, written, skipped)

    table = [[*sheet.header, *([column] if added else [])]]
    table += [_filled(row, index, added, scores, points_possible) for row in sheet.rows]
    _write_csv(path, table, bom, sheet.newline)
    return ExportSummary(written=tuple(written), skipped=skipped)


def write_canvas_minimal(path: Path, rows: list[ExportRow], column: str, points_possible: float,
                         bom: bool) -> ExportSummary:
    """A Canvas import without an export to fill: the columns Canvas finds a student by, and the exam's."""
    _check_new_column(column, "")
    table = [[*_CANVAS_IDENTITY, column], [_POINTS_POSSIBLE, "", "", "", "", _number(points_possible)]]
    written: list[str] = []
    skipped: dict[str, str] = {}
    for row in rows:
        entry = row.entry
        if entry is None:
            skipped[row.student_key] = _NO_ENTRY
        elif entry.lms_user_id is None and entry.student_id is None and entry.login is None:
            skipped[row.student_key] = (f"the roster (line {entry.row}) has no Canvas ID, SIS User ID or SIS Login ID "
                                        "for Canvas to find them by")
        else:
            table.append([entry.name, entry.lms_user_id or "", entry.student_id or "", entry.login or "",
                          entry.section or "", _grade(row.score)])
            _tally(row, written, skipped)
    _write_csv(path, table, bom)
    return ExportSummary(written=tuple(written), skipped=skipped)


def write_moodle_grades(path: Path, rows: list[ExportRow], key: Literal["idnumber", "email"],
                        bom: bool) -> ExportSummary:
    """Moodle's "Import grades: CSV file": the key column, full name, grade and feedback (one cell, lines kept)."""
    label = "ID number" if key == "idnumber" else "Email address"
    table = [[label, "Full name", "Grade", "Feedback"]]
    written: list[str] = []
    skipped: dict[str, str] = {}
    for row in rows:
        entry = row.entry
        if entry is None:
            skipped[row.student_key] = _NO_ENTRY
            continue
        value = entry.student_id if key == "idnumber" else entry.email
        if value is None:
            skipped[row.student_key] = f"no {label} on the roster (line {entry.row})"
        elif row.score is None:
            skipped[row.student_key] = "no score: the row is left out, so Moodle keeps the grade it has"
        else:
            table.append([value, entry.name, _number(row.score), row.feedback])
            written.append(row.student_key)
    _write_csv(path, table, bom)
    return ExportSummary(written=tuple(written), skipped=skipped)


def write_moodle_feedback_zip(path: Path, rows: list[ExportRow], participant_ids: dict[str, str],
                              files: dict[str, str]) -> ExportSummary:
    """The zip Moodle's "Upload multiple feedback files in a zip" takes: `files` (student key -> HTML), one member
    per student, named `{Full name}_{participant id}_assignsubmission_file_feedback.html`.

    `participant_ids` (student key -> id) comes from Moodle's bulk download; Moodle finds the student by that id alone.
    """
    members: dict[str, str] = {}  # member name -> HTML
    owners: dict[str, str] = {}  # participant id -> the student key given it first
    skipped: dict[str, str] = {}
    for row in rows:
        participant = participant_ids.get(row.student_key)
        if participant is None:
            skipped[row.student_key] = "not in the Moodle download (no participant id)"
        elif not re.fullmatch(r"[0-9]+", participant):  # also keeps `/` and `..` out of the member's name
            raise ValueError(f"{row.student_key}: Moodle participant ids are numbers, got {participant!r}")
        elif participant in owners:
            skipped[row.student_key] = f"participant id {participant} is {owners[participant]}'s too"
        elif row.student_key not in files:
            skipped[row.student_key] = "no feedback file"
        else:
            owners[participant] = row.student_key
            member = f"{_file_name(row.name)}_{participant}_assignsubmission_file_feedback.html"
            members[member] = files[row.student_key]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, html in members.items():
            archive.writestr(name, html)  # a str name: zipfile flags a non-ASCII one as UTF-8
    return ExportSummary(written=tuple(owners.values()), skipped=skipped)


def _assignment_columns(sheet: CanvasSheet) -> list[str]:
    """Headers after the student's identity (up to Section) that Canvas does not compute: read-only ones it does."""
    first = [name.strip() for name in sheet.header].index("Section") + 1
    notes = [row.cells for row in sheet.rows if row.kind in {"points possible", "read only"}]
    return [name for index, name in enumerate(sheet.header) if index >= first
            and not any(_READ_ONLY.fullmatch(cells[index].strip()) for cells in notes)]


def _exam_column(path: Path, sheet: CanvasSheet, column: str | None) -> str:
    """The column to fill: `column` if Canvas imports into it or can add it, or else the only assignment's."""
    assignments = _assignment_columns(sheet)
    if column is None:
        candidates = [name for name in assignments if _ASSIGNMENT.fullmatch(name)]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise ExportError(f"{path}: line 1: no assignment column (expected a header like 'Midterm (12345)'); "
                              "name the exam's column (--column) to add it")
        listed = ", ".join(repr(name) for name in candidates)
        raise ExportError(f"{path}: line 1: {len(candidates)} assignment columns ({listed}); "
                          "name the exam's column (--column)")
    if column not in sheet.header:
        _check_new_column(column, f"{path}: line 1: no column {column!r} to fill, and it cannot be added: ")
        _check_not_a_second(path, column, assignments)
    elif column not in assignments:
        raise ExportError(f"{path}: line 1: column {column!r} is not an assignment Canvas imports into "
                          "(it identifies the student or Canvas computes it); expected e.g. 'Midterm (12345)'")
    return column


def _check_new_column(column: str, context: str) -> None:
    if not _NEW_COLUMN.fullmatch(column):
        raise ExportError(f"{context}{column!r} is not a Canvas column name: expected 'Title' or "
                          "'Title (assignment id)', e.g. 'Midterm' or 'Midterm (12345)'")


def _check_not_a_second(path: Path, column: str, assignments: list[str]) -> None:
    """`Midterm` beside `Midterm (12345)` is most likely that assignment, but Canvas would create a new one."""
    same = [name for name in assignments if (match := _ASSIGNMENT.fullmatch(name)) and match["title"] == column]
    if same:
        raise ExportError(f"{path}: line 1: has {same[0]!r}: name it to fill that column; "
                          f"{column!r} alone would add a second assignment named {column}")


def _filled(row: CanvasRow, index: int, added: bool, scores: dict[int, float | None], points: float) -> list[str]:
    """One row as read, with the exam's cell set for a student being exported, or the points of an added column."""
    if row.kind == "blank":
        return list(row.cells)
    cells = [*row.cells, *([""] if added else [])]
    if row.line in scores:
        cells[index] = _grade(scores[row.line])
    elif added and row.kind == "points possible":
        cells[index] = _number(points)
    return cells


def _tally(row: ExportRow, written: list[str], skipped: dict[str, str]) -> None:
    """A Canvas row written with its score, or with an empty cell (reported)."""
    if row.score is None:
        skipped[row.student_key] = _NO_SCORE
    else:
        written.append(row.student_key)


def _grade(score: float | None) -> str:
    return "" if score is None else _number(score)


def _number(value: float) -> str:
    """At most two decimals and never an exponent (43.5, 100, 12.25): what gradebooks read as a number."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _file_name(name: str) -> str:
    """A student's name as the start of a zip member's name: no separators, no `..`, nothing Moodle splits at."""
    safe = " ".join(_NOT_IN_FILE_NAMES.sub(" ", unicodedata.normalize("NFC", name)).split()).lstrip(". ")
    return safe or "student"


def _write_csv(path: Path, table: list[list[str]], bom: bool, newline: str = "\r\n") -> None:
    # utf-8-sig when asked: Excel opens Korean names correctly only with the BOM; some importers want none.
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as stream:
        csv.writer(stream, lineterminator=newline).writerows(table)
