"""Moodle's offline grading worksheet as Moodle writes it, and what "Upload grading worksheet" does with a file, for
tests.

An assignment's participants are modelled as Moodle holds them (participant id, names, grade, feedback comment,
whether grading is locked). `download_worksheet` writes the CSV "Download grading worksheet" gives;
`upload_preview` applies Moodle's import rules to an uploaded file and says which grades and feedback comments it
would set. Neither reads grader code.

Sources (moodle/moodle; notes with quotes in /work/helpers/lms-rules.md sections 5 and 6):
- mod/assign/gradingtable.php, assign_grading_table (the columns of a download; col_status, col_grade,
  col_gradecanbechanged; other_cols: a feedback editor field is get_editor_text(), the stored text);
- mod/assign/feedback/offline/locallib.php, assign_feedback_offline::process_import_grades (the upload's rules);
- mod/assign/feedback/offline/importgradeslib.php, assignfeedback_offline_grade_importer::init and ::next;
- lib/csvlib.class.php, csv_import_reader::load_csv_content (BOM trimmed, CR LF to LF, trimmed, fgetcsv, every row
  as many cells as the header);
- lib/moodlelib.php, fullname() with lang/en/moodle.php fullnamedisplay '{$a->firstname} {$a->lastname}';
- lib/dataformatlib / dataformat_csv: Spout's CSV writer (a BOM, `,`, PHP fputcsv quoting, LF);
- php-src ext/standard/file.c, php_fputcsv: a field is enclosed if it holds the delimiter, `"`, `\\`, LF, CR, tab or
  a space.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from datetime import datetime

BOM = "\ufeff"
DATE_FORMAT = "%A, %d %B %Y, %I:%M %p"  # lang/en/langconfig.php strftimedaydatetime, as userdate() writes it


@dataclass(frozen=True)
class Participant:
    participant_id: int  # assign_user_mapping's id: "Participant 1234567", and the download's folder names
    firstname: str
    lastname: str
    email: str
    status: str = "Submitted for grading"  # col_status, tags stripped
    grade: float | None = None
    feedback: str = ""  # the feedback comment as stored (HTML)
    grade_can_be_changed: bool = True  # not locked or overridden in the gradebook (grading_disabled)
    submitted: datetime | None = None
    graded: datetime | None = None  # the grade's timemodified


@dataclass(frozen=True)
class Assignment:
    max_grade: float = 100.0
    decimals: int = 2  # the grade item's display decimals
    decsep: str = "."  # langconfig decsep of the downloading user's language
    online_text: bool = False  # a submission plugin with an editor field: an "Online text" column
    feedback_comments: bool = True  # assignfeedback_comments enabled: a "Feedback comments" column


def fullname(participant: Participant) -> str:
    """fullname() with the English template '{$a->firstname} {$a->lastname}': `민준 김` for lastname 김."""
    return " ".join(part for part in (participant.firstname, participant.lastname) if part)


def worksheet_table(assignment: Assignment, participants: list[Participant]) -> list[list[str]]:
    """The rows assign_grading_table writes when downloading, in its column order (no blind marking, no groups,
    no marking workflow, email as the identity field)."""
    header = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
              "Last modified (submission)"]
    header += ["Online text"] if assignment.online_text else []
    header += ["Last modified (grade)"]
    header += ["Feedback comments"] if assignment.feedback_comments else []
    rows = [header]
    for participant in participants:
        row = [f"Participant {participant.participant_id}", fullname(participant), participant.email,
               participant.status, _format_float(participant.grade, assignment),
               _format_float(assignment.max_grade, assignment), "Yes" if participant.grade_can_be_changed else "No",
               _userdate(participant.submitted)]
        row += [""] if assignment.online_text else []
        row += [_userdate(participant.graded)]
        row += [participant.feedback] if assignment.feedback_comments else []
        rows.append(row)
    return rows


def write_worksheet(table: list[list[str]]) -> bytes:
    """Spout's CSV writer: a BOM, then each row through PHP's fputcsv with `,` and `"`, ending in LF."""
    return (BOM + "".join(",".join(_fputcsv_field(cell) for cell in row) + "\n" for row in table)).encode("utf-8")


def download_worksheet(assignment: Assignment, participants: list[Participant]) -> bytes:
    return write_worksheet(worksheet_table(assignment, participants))


@dataclass(frozen=True)
class UploadPreview:
    """What process_import_grades would set: participant id -> (stored, new)."""

    grades: dict[int, tuple[float | None, float]]
    feedback: dict[int, tuple[str, str]]


class InvalidGradeImport(Exception):
    """'invalidgradeimport' or 'csvweirdcolumns': Moodle refuses the whole file."""


def upload_preview(assignment: Assignment, participants: list[Participant], data: bytes,
                   ignoremodified: bool = False) -> UploadPreview:
    """"Upload grading worksheet" with the default options (UTF-8, comma, "Allow updating records that have been
    modified more recently in Moodle than in the spreadsheet" unticked unless `ignoremodified`).

    PHP's fgetcsv treats `\\` as an escape before a quote; Python's csv has no such rule, so a file with a backslash
    is refused here rather than read differently."""
    text = data.decode("utf-8").removeprefix(BOM)  # core_text::trim_utf8_bom
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()  # "Fix mac/dos newlines", then trim()
    if "\\" in text:
        raise InvalidGradeImport("a backslash: PHP's fgetcsv would read it as an escape")
    rows = [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row != []]  # single-null lines
    header, *records = rows
    if any(len(row) != len(header) for row in records):
        raise InvalidGradeImport("csvweirdcolumns")
    # assignfeedback_offline_grade_importer::init: exact header matches in the uploader's language
    if not all(name in header for name in ("Identifier", "Grade", "Last modified (grade)")):
        raise InvalidGradeImport("invalidgradeimport")
    column = {name: header.index(name) for name in header}
    feedback_column = column.get("Feedback comments") if assignment.feedback_comments else None
    by_id = {participant.participant_id: participant for participant in participants}
    grades, feedback = {}, {}
    for record in records:
        # ::next: substr($idstr, strlen(get_string('hiddenuser', 'assign'))): "Participant " cut off by its length
        identifier = record[column["Identifier"]][len("Participant "):]
        participant = by_id.get(int(identifier)) if identifier.isdigit() else None
        if participant is None:
            continue  # not a participant (or not in the current group): skipped silently
        modified = _strtotime(record[column["Last modified (grade)"]])
        new = _unformat_float(record[column["Grade"]], assignment)
        has_grade = participant.grade is not None or participant.feedback != ""  # get_user_grade(…, false)
        stored = participant.graded.timestamp() if participant.graded else 0
        stale = has_grade and stored > (modified if modified is not False else 0) + 60  # "Do not count the seconds"
        if has_grade and participant.grade == new:
            pass  # "Skip - grade not modified"
        elif new is None or new < 0:
            pass  # "Skip - grade has no value"
        elif not ignoremodified and stale:
            pass  # "Skip - grade has been modified"
        elif not participant.grade_can_be_changed:
            pass  # "Skip grade is locked"
        elif new > assignment.max_grade:
            pass  # "Out of range"
        else:
            grades[participant.participant_id] = (participant.grade, new)
        if feedback_column is not None and (ignoremodified or not stale):
            value = record[feedback_column]
            if value != participant.feedback:  # `$newvalue != $oldvalue`: an empty cell clears the comment
                feedback[participant.participant_id] = (participant.feedback, value)
    return UploadPreview(grades=grades, feedback=feedback)


def with_grade(participant: Participant, grade: float, feedback: str) -> Participant:
    return replace(participant, grade=grade, feedback=feedback)


def _fputcsv_field(cell: str) -> str:
    if any(char in cell for char in (",", '"', "\\", "\n", "\r", "\t", " ")):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _format_float(value: float | None, assignment: Assignment) -> str:
    """format_float($grade, $decimals), with the language's decimal separator; empty for no grade."""
    if value is None:
        return ""
    return f"{value:.{assignment.decimals}f}".replace(".", assignment.decsep)


def _userdate(when: datetime | None) -> str:
    """userdate() with strftimedaydatetime, fixday/fixhour removing leading zeros; "-" for none."""
    if when is None:
        return "-"
    return when.strftime(DATE_FORMAT).replace(" 0", " ")


def _strtotime(text: str) -> float | bool:
    """PHP's strtotime for the English dates userdate() writes; False for anything else ("-", other languages)."""
    try:
        return datetime.strptime(text, DATE_FORMAT).timestamp()
    except ValueError:
        return False


def _unformat_float(text: str, assignment: Assignment) -> float | None:
    """unformat_float(): trimmed; '' is null; spaces removed, the language's decimal separator made a point; then
    PHP's (float) cast, which reads a leading number and gives 0 for none."""
    text = text.strip()
    if text == "":
        return None
    text = text.replace(" ", "").replace(assignment.decsep, ".")
    number = ""
    for char in text:
        if not (char.isdigit() or char in ".-") or (char == "-" and number):
            break
        number += char
    try:
        return float(number)
    except ValueError:
        return 0.0
