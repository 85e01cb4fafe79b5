"""Files Canvas and Moodle import, written from rows the caller has already decided (who, what score, what feedback).

Canvas imports a gradebook CSV shaped like its own export: with the export at hand it is written back as read, byte
for byte, with the exam's cells filled; without one, a minimal file holds just the columns Canvas finds students by.
Moodle's offline grading worksheet is written back the same way, its Grade and Feedback comments filled. Without
the worksheet, Moodle takes a grade CSV keyed by ID number or email address, and feedback files in a zip named the
way its bulk download names submissions.

Nothing here decides a score, and nothing blanks a grade the LMS has: to both importers an empty cell against an
existing grade is a change (Canvas clears the grade; Moodle clears the feedback), so a row without a score leaves
its cells as they were, and a 0 for a missing or refused submission goes only where the LMS has no grade.
"""

from __future__ import annotations

import csv
import html
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Literal

from grader.lms.roster import Roster, RosterEntry, Sheet

_CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
_POINTS_POSSIBLE = "    Points Possible"  # as Canvas writes it, leading spaces included
_ASSIGNMENT = re.compile(r"(?P<title>.+) \((?P<id>\d+)\)")  # an existing assignment's column: "Midterm (12345)"
# A column to add: a title, or a title and the assignment's id; parentheses only around the id, which Canvas reads.
_NEW_COLUMN = re.compile(r"[^\s()](?:[^\r\n()]*[^\s()])?(?: \(\d+\))?")
_READ_ONLY = re.compile(r"\(?read only\)?", re.IGNORECASE)
# Columns Canvas's importer drops wherever these appear in the header (a substring match, so "Unposted Final Score"
# and "Midterm Final Grade (123)" too): instructure/canvas-lms lib/gradebook_importer.rb,
# GradebookImporter::NON_ASSIGNMENT_COLUMN_HEADERS and #strip_non_assignment_columns.
_NOT_ASSIGNMENTS = re.compile("Current Score|Current Points|Current Grade|Final Score|Final Points|Final Grade|"
                              "Override Score|Override Grade|Override Status")
# A number as Canvas's exporter writes it, with either decimal mark (format_numbers: I18n.n(x, precision: 2), the
# locale's separator: `7,50` in Icelandic). lib/gradebook_exporter.rb, GradebookExporter#format_numbers.
_CANVAS_NUMBER = re.compile(r"-?[0-9]+(?P<mark>[.,])[0-9]{2}")
_MOODLE_NUMBER = re.compile(r"-?[0-9]+(?:(?P<mark>[.,])(?P<decimals>[0-9]+))?")
# What PHP's fputcsv quotes besides the delimiter, `"` and line breaks (php-src ext/standard/file.c, php_fputcsv:
# FPUTCSV_FLD_CHK of the escape character, '\t' and ' '): Moodle writes its worksheet through it (Spout's CSV writer).
_FPUTCSV_QUOTES = "\\\t "
_KEPT = "its cell is left as it was"
_NO_SCORE = f"no score: {_KEPT}, so the LMS keeps the grade it has"
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
    # The score is a 0 for a missing or refused submission: written only where the LMS has no grade.
    only_if_ungraded: bool = False
    attention: str | None = None  # why a person must look first (the grader refused the submission)


@dataclass(frozen=True)
class ExportSummary:
    """What a writer put in its file, for the TA."""

    written: tuple[str, ...]  # student keys whose score (or feedback file) is in the file
    skipped: dict[str, str]  # student key -> why it is not
    attention: dict[str, str] = field(default_factory=dict)  # student key -> what a person must look at, and why


def write_canvas_import(path: Path, roster: Roster, column: str | None, rows: list[ExportRow],
                        points_possible: float, bom: bool) -> ExportSummary:
    """Canvas's gradebook export written back with the exam's column filled; every other byte as read.

    `column` is the assignment's header, e.g. `Midterm (12345)`; None picks the only assignment column there is.
    A column the export lacks is added, with `points_possible` in the Points Possible row. The export's BOM,
    delimiter, quoting and line endings stay; `bom` adds a BOM to a file that had none.
    """
    sheet = roster.sheet
    if roster.format != "canvas" or sheet is None:
        raise ExportError(f"{roster.path}: a {roster.format} roster, not a Canvas gradebook export: "
                          "export the gradebook from Canvas, or write the minimal Canvas import instead")
    column = _exam_column(roster.path, sheet, column)
    added = column not in sheet.header
    index = len(sheet.header) if added else sheet.header.index(column)
    mark = _canvas_mark(sheet)
    tally = _Tally()
    decided = _by_line(roster, rows, tally)

    lines = [sheet.header_record.text(sheet.delimiter, added=(column,) if added else ())]
    for row in sheet.rows:
        if row.kind == "blank":  # Canvas skips it (`skip_lines: /^[;, ]+$/`); it stays as it was
            lines.append(row.record.text(sheet.delimiter))
            continue
        cell = "" if added else row.cells[index]
        if row.line in decided:
            cell = _canvas_cell(decided[row.line], cell, mark, tally)
        elif added and row.kind == "points possible":
            cell = _canvas_number(points_possible, mark)
        if added:
            lines.append(row.record.text(sheet.delimiter, added=(cell,)))
        else:
            lines.append(row.record.text(sheet.delimiter, {index: cell} if cell != row.cells[index] else None))
    _write_text(path, "".join(lines), sheet.bom or bom)
    return tally.summary()


def write_canvas_minimal(path: Path, rows: list[ExportRow], column: str, points_possible: float,
                         bom: bool) -> ExportSummary:
    """A Canvas import without an export to fill: the columns Canvas finds a student by, and the exam's. A student
    without a score is left out of the file: a row with an empty cell would clear the grade Canvas has."""
    _check_new_column(column, "")
    table = [[*_CANVAS_IDENTITY, column], [_POINTS_POSSIBLE, "", "", "", "", _number(points_possible)]]
    tally = _Tally()
    for row in rows:
        entry = row.entry
        if entry is None:
            tally.left_alone(row, _NO_ENTRY)
        elif entry.lms_user_id is None and entry.student_id is None and entry.login is None:
            tally.left_alone(row, f"the roster (line {entry.row}) has no Canvas ID, SIS User ID or SIS Login ID for "
                                  "Canvas to find them by")
        elif row.score is None:
            tally.left_alone(row, "no score: left out of the file, so Canvas keeps the grade it has")
        else:
            table.append([entry.name, entry.lms_user_id or "", entry.student_id or "", entry.login or "",
                          entry.section or "", _number(row.score)])
            tally.wrote(row)
    _write_csv(path, table, bom)
    return tally.summary()


def write_moodle_worksheet(path: Path, roster: Roster, rows: list[ExportRow], bom: bool) -> ExportSummary:
    """Moodle's offline grading worksheet written back with Grade and Feedback comments filled; every other byte as
    read, so that "Upload grading worksheet" takes it.

    What Moodle does with each cell (mod/assign/feedback/offline/locallib.php,
    assign_feedback_offline::process_import_grades) decides what is written: an empty Grade is skipped, so a
    student without a score keeps their cells; a feedback cell that differs from the stored comment replaces it,
    an empty one too, so feedback is written only with a grade; a row whose grading is disabled
    ("Grade can be changed: No", assign_grading_table::col_gradecanbechanged) or a grade above the maximum is
    skipped, so neither is written.
    """
    sheet = roster.sheet
    if roster.format != "moodle-worksheet" or sheet is None:
        raise ExportError(f"{roster.path}: a {roster.format} roster, not a Moodle grading worksheet")
    header = list(sheet.header)
    if "Maximum Grade" not in header and "Scale" in header:
        raise ExportError(f"{roster.path}: line 1: the assignment is graded with a scale (a Scale column, no "
                          "Maximum Grade); the grader gives points: set the assignment's grade type to Point in "
                          "Moodle and download the worksheet again")
    grade = header.index("Grade")
    # The feedback comments plugin's editor field, headed with its plugin name: mod/assign/feedback/comments/
    # locallib.php, assign_feedback_comments::get_editor_fields, get_string('pluginname', 'assignfeedback_comments').
    comments = header.index("Feedback comments") if "Feedback comments" in header else None
    maximum = header.index("Maximum Grade") if "Maximum Grade" in header else None
    changeable = header.index("Grade can be changed") if "Grade can be changed" in header else None
    mark, decimals = _moodle_style(sheet, [index for index in (maximum, grade) if index is not None])
    tally = _Tally()
    decided = _by_line(roster, rows, tally)

    lines = [sheet.header_record.text(sheet.delimiter)]
    for row in sheet.rows:
        changed: dict[int, str] = {}
        export = decided.get(row.line)
        if export is not None:
            maximum_cell = row.cells[maximum].strip() if maximum is not None else ""
            most = _moodle_float(maximum_cell) if maximum is not None else None
            if changeable is not None and row.cells[changeable].strip() == "No":
                tally.left_alone(export, "Moodle does not let their grade be changed (Grade can be changed: No: "
                                         f"locked or overridden in the gradebook): {_KEPT}")
            elif export.score is None:
                tally.left_alone(export, _NO_SCORE)
            elif export.only_if_ungraded and row.cells[grade].strip():
                tally.left_alone(export, f"a 0 goes only where Moodle has no grade, and it has "
                                         f"{row.cells[grade].strip()!r}: {_KEPT}")
            elif most is not None and export.score > most + 1e-9:
                tally.attention[export.student_key] = (
                    f"their score {_number(export.score)} is above the worksheet's Maximum Grade "
                    f"{maximum_cell}, which Moodle skips: {_KEPT}; set the assignment's maximum grade "
                    "in Moodle and download the worksheet again")
            else:
                changed[grade] = _moodle_number(export.score, decimals, mark)
                if comments is not None:
                    changed[comments] = comment_html(export.feedback)
                tally.wrote(export)
        lines.append(row.record.text(sheet.delimiter, changed, quote_also=_FPUTCSV_QUOTES))
    _write_text(path, "".join(lines), sheet.bom or bom)
    return tally.summary()


def write_moodle_grades(path: Path, rows: list[ExportRow], key: Literal["idnumber", "email"],
                        bom: bool) -> ExportSummary:
    """Moodle's "Import grades: CSV file": the key column, full name, grade and feedback (one cell, lines kept)."""
    label = "ID number" if key == "idnumber" else "Email address"
    table = [[label, "Full name", "Grade", "Feedback"]]
    tally = _Tally()
    for row in rows:
        entry = row.entry
        if entry is None:
            tally.left_alone(row, _NO_ENTRY)
            continue
        value = entry.student_id if key == "idnumber" else entry.email
        if value is None:
            tally.left_alone(row, f"no {label} on the roster (line {entry.row})")
        elif row.score is None:
            tally.left_alone(row, "no score: the row is left out, so Moodle keeps the grade it has")
        else:
            table.append([value, entry.name, _number(row.score), row.feedback])
            tally.wrote(row)
    _write_csv(path, table, bom)
    return tally.summary()


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
        for name, page in members.items():
            archive.writestr(name, page)  # a str name: zipfile flags a non-ASCII one as UTF-8
    return ExportSummary(written=tuple(owners.values()), skipped=skipped)


def comment_html(text: str) -> str:
    """Plain feedback as the HTML Moodle stores a feedback comment in (assign_feedback_comments::set_editor_text
    saves the worksheet's cell as `commenttext` with `commentformat = FORMAT_HTML`): lines kept as `<br>`, and no
    backslash, which Moodle's CSV reader (PHP fgetcsv, escape character `\\`) would take for an escape."""
    return "<br>".join(html.escape(line) for line in text.split("\n")).replace("\\", "&#92;")


@dataclass
class _Tally:
    """What a writer did with each row, for the TA: a row a person must look at goes under attention, with why."""

    written: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    attention: dict[str, str] = field(default_factory=dict)

    def wrote(self, row: ExportRow) -> None:
        self.written.append(row.student_key)
        if row.attention:
            self.attention[row.student_key] = f"{row.attention}; exported as {_number(row.score or 0.0)}"

    def left_alone(self, row: ExportRow, why: str) -> None:
        if row.attention:
            self.attention[row.student_key] = f"{row.attention}; {why}"
        else:
            self.skipped[row.student_key] = why

    def summary(self) -> ExportSummary:
        return ExportSummary(written=tuple(self.written), skipped=self.skipped, attention=self.attention)


def _by_line(roster: Roster, rows: list[ExportRow], tally: _Tally) -> dict[int, ExportRow]:
    """The rows to write, by the line of the sheet's row they fill; rows matching no one are tallied."""
    entries = set(roster.entries)
    decided: dict[int, ExportRow] = {}
    for row in rows:
        if row.entry is None:
            tally.left_alone(row, _NO_ENTRY)
            continue
        if row.entry not in entries:
            raise ValueError(f"{row.student_key}: its roster entry (line {row.entry.row}) is not from {roster.path}")
        if row.entry.row in decided:
            raise ValueError(f"{row.student_key}: line {row.entry.row} of {roster.path} is exported twice")
        decided[row.entry.row] = row
    return decided


def _canvas_cell(row: ExportRow, current: str, mark: str, tally: _Tally) -> str:
    """What goes in a student's cell of the exam's column: the score, or the cell as it was.

    To Canvas's importer a cell differing from the grade it holds is a change, an empty one too
    (lib/gradebook_importer.rb, GradebookImporter#no_change_to_value?: `return false unless current_value.present?
    && new_value.present?`), so a cell is only ever replaced by a score.
    """
    value = current.strip()
    if row.score is None:
        tally.left_alone(row, _NO_SCORE)
        return current
    if value == "N/A":
        # Canvas's exporter writes N/A where the assignment is not assigned to the student (differentiated), and
        # its importer ignores their cell (GradebookExporter#csv_data; GradebookImporter#process_submissions,
        # assignment_assigned_to_student).
        tally.attention[row.student_key] = (f"the exam is not assigned to them in Canvas (N/A), so Canvas would not "
                                            f"import their {_number(row.score)}: {_KEPT}; assign it to them in "
                                            "Canvas and export the gradebook again")
        return current
    if value.upper() == "EX":  # excused (GradebookExporter#csv_data: `"EX"` if submission.excused?)
        if row.only_if_ungraded:
            tally.left_alone(row, f"excused in Canvas (EX): {_KEPT}")
        else:
            tally.attention[row.student_key] = (f"excused in Canvas (EX): {_KEPT}, not replaced by their score "
                                                f"{_number(row.score)}; to import it, remove the excuse in Canvas "
                                                "and export the gradebook again")
        return current
    if row.only_if_ungraded and value not in ("", "-"):  # "-" is no score to Canvas too (#no_score?)
        tally.left_alone(row, f"a 0 goes only where Canvas has no grade, and it has {value!r}: {_KEPT}")
        return current
    tally.wrote(row)
    return _canvas_number(row.score, mark)


def _assignment_columns(sheet: Sheet) -> list[str]:
    """Headers after the student's identity (up to Section) that Canvas imports into: not the columns it computes
    (read only in the Points Possible row, GradebookImporter#readonly_assignment?) nor those its importer drops."""
    first = [name.strip() for name in sheet.header].index("Section") + 1
    notes = [row.cells for row in sheet.rows if row.kind in {"points possible", "read only"}]
    return [name for index, name in enumerate(sheet.header) if index >= first and not _NOT_ASSIGNMENTS.search(name)
            and not any(_READ_ONLY.fullmatch(cells[index].strip()) for cells in notes)]


def _exam_column(path: Path, sheet: Sheet, column: str | None) -> str:
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
    if not _NEW_COLUMN.fullmatch(column) or _NOT_ASSIGNMENTS.search(column):
        raise ExportError(f"{context}{column!r} is not a Canvas column name: expected 'Title' or "
                          "'Title (assignment id)', e.g. 'Midterm' or 'Midterm (12345)', without 'Final Grade', "
                          "'Current Score' and the like, which Canvas's importer drops")


def _check_not_a_second(path: Path, column: str, assignments: list[str]) -> None:
    """`Midterm` beside `Midterm (12345)` is most likely that assignment, but Canvas would create a new one."""
    same = [name for name in assignments if (match := _ASSIGNMENT.fullmatch(name)) and match["title"] == column]
    if same:
        raise ExportError(f"{path}: line 1: has {same[0]!r}: name it to fill that column; "
                          f"{column!r} alone would add a second assignment named {column}")


def _canvas_mark(sheet: Sheet) -> str:
    """The export's decimal mark, from the numbers Canvas wrote in it (the Points Possible row first)."""
    rows = sorted(sheet.rows, key=lambda row: row.kind != "points possible")
    for row in rows:
        for cell in row.cells:
            if number := _CANVAS_NUMBER.fullmatch(cell.strip()):
                return number["mark"]
    return "."


def _canvas_number(score: float, mark: str) -> str:
    """As Canvas's exporter writes a score: two decimals, the export's decimal mark (GradebookExporter#format_numbers:
    I18n.n(score, precision: 2), rounded half up)."""
    return _rounded(score, 2).replace(".", mark)


def _moodle_style(sheet: Sheet, columns: list[int]) -> tuple[str, int]:
    """The worksheet's decimal mark and decimals, from its Maximum Grade and Grade cells: Moodle writes both with
    format_float(value, the grade item's decimals), in the locale's separator (`85,00` in German)."""
    mark, decimals = None, None
    for index in columns:
        for row in sheet.rows:
            if row.kind == "blank" or not (number := _MOODLE_NUMBER.fullmatch(row.cells[index].strip())):
                continue
            decimals = len(number["decimals"] or "") if decimals is None else decimals
            mark = mark or number["mark"]
    return mark or ".", 2 if decimals is None else decimals


def _moodle_number(score: float, decimals: int, mark: str) -> str:
    """`score` as the worksheet writes grades, with as many decimals as the score needs (up to two) if more."""
    return _rounded(score, max(decimals, len(_number(score).partition(".")[2]))).replace(".", mark)


def _moodle_float(cell: str) -> float | None:
    try:
        return float(cell.strip().replace(",", "."))
    except ValueError:
        return None


def _number(value: float) -> str:
    """At most two decimals and never an exponent (43.5, 100, 12.25): what gradebooks read as a number."""
    return _rounded(value, 2).rstrip("0").rstrip(".")


def _rounded(value: float, places: int) -> str:
    """`value` with `places` decimals, rounded half up from the decimal it prints as (77.255 -> 77.26, as Canvas
    rounds), never an exponent nor -0."""
    text = str(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))
    return text.lstrip("-") if Decimal(text) == 0 else text


def _file_name(name: str) -> str:
    """A student's name as the start of a zip member's name: no separators, no `..`, nothing Moodle splits at."""
    safe = " ".join(_NOT_IN_FILE_NAMES.sub(" ", unicodedata.normalize("NFC", name)).split()).lstrip(". ")
    return safe or "student"


def _write_text(path: Path, text: str, bom: bool) -> None:
    """`text` as UTF-8, its line endings as they are."""
    path.write_bytes(("\ufeff" if bom else "").encode("utf-8") + text.encode("utf-8"))


def _write_csv(path: Path, table: list[list[str]], bom: bool, newline: str = "\r\n") -> None:
    # utf-8-sig when asked: Excel opens Korean names correctly only with the BOM; some importers want none.
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as stream:
        csv.writer(stream, lineterminator=newline).writerows(table)
