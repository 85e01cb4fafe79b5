"""Canvas's gradebook CSV as Canvas writes it, and what Canvas's importer makes of a file uploaded back, for tests.

A course is modelled as Canvas holds it (students, assignments, stored scores). `export_gradebook` writes the file
"Export entire gradebook" downloads, following Canvas's exporter; `import_preview` applies the rules of Canvas's
importer to an uploaded file and says which cells it would change. Neither reads grader code, so the round trip
tests compare the grader's file with Canvas's own rules, not with the grader's idea of them.

Sources (instructure/canvas-lms; notes with quotes in /work/helpers/lms-rules.md sections 2 and 3):
- lib/gradebook_exporter.rb, GradebookExporter#csv_data, #format_numbers, #hidden_assignment_text;
- lib/csv_with_i18n.rb, CSVWithI18n (BOM, column separator);
- lib/gradebook_importer.rb, GradebookImporter (#semicolon_delimited?, #csv_stream, #header?, #update_column_count,
  #strip_non_assignment_columns, #parse_assignments, #check_for_non_student_row, #process_pp, #process_student,
  #process_submissions, #no_change_to_value?, CSV::Converters[:decimal_comma_to_period]);
- ruby/csv lib/csv/writer.rb, CSV::Writer#quote (how Canvas's CSV quotes).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

BOM = "\ufeff"
# GradebookImporter::NON_ASSIGNMENT_COLUMN_HEADERS, joined into one regexp and removed with grep_v: a substring match.
NON_ASSIGNMENT_COLUMN_HEADERS = ("Current Score", "Current Points", "Current Grade", "Final Score", "Final Points",
                                 "Final Grade", "Override Score", "Override Grade", "Override Status")
_TITLE_AND_ID = re.compile(r"\A(.*)\s\((\d+)\)\Z")  # Assignment.title_and_id
_HIDDEN_ROW = re.compile(r"^\s*(Muted|Manual Posting.*)?\s*$", re.IGNORECASE)  # #check_for_non_student_row
_DECIMAL_COMMA = re.compile(r"^-?[0-9.,]+%?$")  # CSV::Converters[:decimal_comma_to_period]
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


@dataclass(frozen=True)
class Student:
    id: int
    name: str  # "Minjun Kim"
    sortable_name: str  # "Kim, Minjun": what the export's Student column shows
    sis_user_id: str | None = None
    login: str | None = None  # the pseudonym's unique_id: "SIS Login ID"
    integration_id: str | None = None
    sections: tuple[str, ...] = ("Section 1",)
    test_student: bool = False  # StudentViewEnrollment: exported last


@dataclass(frozen=True)
class Assignment:
    id: int
    title: str
    points_possible: float
    post_manually: bool = False  # a "Manual Posting" note in the row under the header
    not_assigned_to: frozenset[int] = frozenset()  # differentiated: N/A for these students


@dataclass(frozen=True)
class Course:
    students: tuple[Student, ...]
    assignments: tuple[Assignment, ...]  # in the gradebook's order
    scores: dict[tuple[int, int], float | str] = field(default_factory=dict)  # (user, assignment) -> score or "EX"
    include_sis_id: bool = False  # the export's "include SIS ids" option: SIS User ID (and the next two) appear
    show_integration_id: bool = False  # root account setting include_integration_ids_in_gradebook_exports
    show_totals: bool = True
    group: str = "Assignments"  # one assignment group, unweighted: points and score totals per group and overall

    def score(self, student: Student, assignment: Assignment) -> float | str | None:
        return self.scores.get((student.id, assignment.id))


@dataclass(frozen=True)
class ExportSettings:
    """The downloading user's feature flags and locale (CSVWithI18n.csv_i18n_settings)."""

    bom: bool = False  # include_byte_order_mark_in_gradebook_exports
    semicolon: bool = False  # use_semi_colon_field_separators_in_gradebook_exports (or autodetect in a , locale)
    decimal_comma: bool = False  # a locale whose decimal separator is "," (I18n.n writes 7,50)


# -- the export -----------------------------------------------------------------------------------------------------

def gradebook_table(course: Course, settings: ExportSettings = ExportSettings()) -> list[list[str | None]]:
    """The rows GradebookExporter#csv_data writes (None where it writes nil), before CSV encoding."""
    assignments = course.assignments
    identity = ["Student", "ID"]
    if course.include_sis_id:
        identity.append("SIS User ID")
    identity.append("SIS Login ID")
    if course.include_sis_id and course.show_integration_id:
        identity.append("Integration ID")
    identity.append("Section")
    totals: list[str] = []
    if course.show_totals:  # include_points? (unweighted groups): points, then the four scores; per group, then overall
        names = ["Current Points", "Final Points", "Current Score", "Unposted Current Score", "Final Score",
                 "Unposted Final Score"]
        totals = [f"{course.group} {name}" for name in names] + names
    header = [*identity, *(assignment.title_with_id for assignment in map(_Titled, assignments)), *totals]
    table: list[list[str | None]] = [list(header)]
    filler = [None] * (len(identity) - 1)
    if any(assignment.post_manually for assignment in assignments):
        # `row = [nil, nil, nil, nil]` (+ nils for the optional columns), then #hidden_assignment_text per assignment
        table.append([None, *filler, *("Manual Posting" if a.post_manually else None for a in assignments),
                      *[None] * len(totals)])
    # `row = ["    Points Possible", nil, nil, nil]`, format_numbers(points_possible), "(read only)" under totals
    table.append(["    Points Possible", *filler,
                  *(_format_number(a.points_possible, settings) for a in assignments), *["(read only)"] * len(totals)])
    # enrollments_for_csv: order_by_sortable_name, then the test student (StudentViewEnrollment) last
    students = sorted(course.students, key=lambda s: (s.test_student, s.sortable_name.casefold()))
    for student in students:
        name = student.sortable_name
        if name.startswith("="):  # student_name: a name starting with = is written as ="=…" for spreadsheets
            name = f'="{name}"'
        row: list[str | None] = [name, str(student.id)]
        if course.include_sis_id:
            row.append(student.sis_user_id)
        row.append(student.login)
        if course.include_sis_id and course.show_integration_id:
            row.append(student.integration_id)
        row.append(_to_sentence(sorted(student.sections)))
        for assignment in assignments:
            score = course.score(student, assignment)
            if student.id in assignment.not_assigned_to:
                row.append("N/A")
            elif score == "EX":
                row.append("EX")
            else:
                row.append(_format_number(score, settings))
        if course.show_totals:
            row += _totals(course, student, settings) * 2  # the group's, then the course's: one group
        table.append(row)
    return table


def write_table(table: list[list[str | None]], settings: ExportSettings = ExportSettings()) -> bytes:
    """CSVWithI18n.generate: the BOM when asked, `;` or `,`, Ruby CSV's quoting, LF line endings."""
    col_sep = ";" if settings.semicolon else ","
    lines = [col_sep.join(ruby_quote(cell, col_sep) for cell in row) + "\n" for row in table]
    return ((BOM if settings.bom else "") + "".join(lines)).encode("utf-8")


def export_gradebook(course: Course, settings: ExportSettings = ExportSettings()) -> bytes:
    """The file Canvas's "Export entire gradebook" downloads."""
    return write_table(gradebook_table(course, settings), settings)


def ruby_quote(cell: str | None, col_sep: str) -> str:
    """CSV::Writer#quote: nil as an empty unquoted field, "" as `""`, a field with CR, LF, the separator or a quote
    quoted (quotes doubled); everything else as it is."""
    if cell is None:
        return ""
    if cell == "" or any(char in cell for char in ("\r", "\n", col_sep, '"')):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def excel_resaved(data: bytes, quote_all: bool = False) -> bytes:
    """The export opened and saved again as "CSV UTF-8" by a spreadsheet: a BOM, CRLF line endings, and with
    `quote_all` every cell quoted (LibreOffice's "Quote all text cells"). Cell text is kept."""
    text = data.decode("utf-8").removeprefix(BOM)
    col_sep = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=col_sep))
    out = io.StringIO()
    csv.writer(out, delimiter=col_sep, lineterminator="\r\n",
               quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerows(rows)
    return (BOM + out.getvalue()).encode("utf-8")


@dataclass(frozen=True)
class _Titled:
    assignment: Assignment

    @property
    def title_with_id(self) -> str:  # Assignment#title_with_id
        return f"{self.assignment.title} ({self.assignment.id})"


def _format_number(number: float | None, settings: ExportSettings) -> str | None:
    """GradebookExporter#format_numbers: I18n.n(number, precision: 2), nil for nil; half up, no thousands separator."""
    if number is None:
        return None
    text = str(Decimal(repr(number)).quantize(Decimal("0.01"), ROUND_HALF_UP))
    return text.replace(".", ",") if settings.decimal_comma else text


def _to_sentence(words: list[str]) -> str:
    """Rails' Array#to_sentence: "A", "A and B", "A, B, and C"."""
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + ", and " + words[-1]


def _totals(course: Course, student: Student, settings: ExportSettings) -> list[str | None]:
    """Current/final points and scores as Canvas's grade calculator gives them for one unweighted group."""
    scored = [(course.score(student, a), a) for a in course.assignments if student.id not in a.not_assigned_to]
    graded = [(score, a) for score, a in scored if isinstance(score, float)]
    points = sum(score for score, _ in graded)
    possible_graded = sum(a.points_possible for _, a in graded)
    possible = sum(a.points_possible for score, a in scored if score != "EX")
    current = 100 * points / possible_graded if possible_graded else None
    final = 100 * points / possible if possible else None
    return [_format_number(value, settings) for value in (points, points, current, current, final, final)]


# -- the import -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportPreview:
    """What Canvas's importer shows after the upload, and would apply."""

    # (user id, column) -> (the stored value as the importer reads it, the file's): cells Canvas would change
    changes: dict[tuple[int, str], tuple[str, str | None]]
    points_possible: dict[str, tuple[float, str]]  # column -> (stored, the file's Points Possible) where they differ
    new_assignments: tuple[str, ...]  # columns Canvas would create an assignment for
    unmatched_rows: tuple[int, ...]  # rows (1-based) that match no student: Canvas asks the user to pick one


class InvalidHeaderRow(Exception):
    """GradebookImporter::InvalidHeaderRow: the upload fails with "Invalid header row"."""


def import_preview(course: Course, data: bytes) -> ImportPreview:
    """What GradebookImporter#parse! makes of `data` uploaded to `course` (stored scores as in `course.scores`).

    Python's csv module reads the file (strict, like Ruby's CSV); Ruby gives nil for an empty unquoted field and
    "" for `""`, which Python cannot tell apart: both are None here, which only matters for a cell Canvas would
    read as `""` against a stored nil, no change either way (#no_score?)."""
    text = data.decode("utf-8")  # no encoding is given to CSV.foreach: the process's UTF-8; a BOM stays in cell one
    col_sep = ";" if _semicolon_delimited(text) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=col_sep, strict=True)
    table: list[tuple[int, list[str | None]]] = []
    line = 1
    for cells in reader:
        # skip_lines: /^[;, ]+$/ drops a line of separators and spaces; an empty line or a row of empty cells is
        # dropped by #check_for_non_student_row anyway, as Muted/Manual Posting rows are.
        if any(cell.strip() for cell in cells):
            table.append((line, [_convert(cell) for cell in cells]))
        line = reader.line_num + 1
    (_, header), *body = table
    student_columns, sis_user_id_column, sis_login_id_column = _student_columns(header)
    assignments_by_id = {a.id: a for a in course.assignments}
    columns: dict[str, Assignment | None] = {}  # header -> assignment, None for one Canvas would create
    kept = [name for name in header[student_columns:]
            if not any(word in (name or "") for word in NON_ASSIGNMENT_COLUMN_HEADERS)]
    for name in kept:
        match = _TITLE_AND_ID.match(name or "")
        found = assignments_by_id.get(int(match[2])) if match else None
        found = found or next((a for a in course.assignments if a.title == name), None)  # "backward compat"
        columns[name] = found
    index = {name: header.index(name) for name in columns}  # #calc_assignment_indices: the first such column

    points_row: list[str | None] = []
    students: list[tuple[int, Student | None, list[str | None]]] = []
    for number, row in body:
        if row and row[0] is not None and "Points Possible" in row[0]:
            points_row = row
            continue
        if all(_HIDDEN_ROW.match(cell) for cell in row if cell is not None):
            continue
        students.append((number, _student(course, row, sis_user_id_column, sis_login_id_column), row))

    read_only = {name for name in columns if points_row and re.search(r"read\s+only", points_row[index[name]] or "")}
    points_possible = {}
    for name, assignment in columns.items():
        cell = points_row[index[name]] if points_row else None
        if assignment is not None and name not in read_only and cell is not None \
                and float(cell) != assignment.points_possible:  # #process_pp: assigned, so the record is changed
            points_possible[name] = (assignment.points_possible, cell)

    changes = {}
    for name, assignment in columns.items():
        if assignment is None or name in read_only:
            continue
        for _, student, row in students:
            if student is None:
                continue
            grade = row[index[name]].strip() if row[index[name]] is not None else None
            if student.id in assignment.not_assigned_to:  # #process_submissions: not assigned -> ""
                grade = ""
            if grade is not None and grade.upper() == "EX":  # "Have potentially mixed case excused in grade match"
                grade = "EX"
            current = _stored(course.score(student, assignment))
            if not _no_change_to_value(grade, current):
                changes[(student.id, name)] = (current, grade)
    return ImportPreview(
        changes=changes, points_possible=points_possible,
        new_assignments=tuple(name for name, assignment in columns.items() if assignment is None),
        unmatched_rows=tuple(number for number, student, _ in students if student is None))


def _semicolon_delimited(text: str) -> bool:
    """#semicolon_delimited?: the first three lines, each parsed alone with ; and with ,; a separator counts when
    it gives every line the same number of fields; ; wins with more."""
    first = text.split("\n", 3)
    lines = [line for index, line in enumerate(first[:3]) if line or index < len(first) - 1]
    counts = {}
    for col_sep in (";", ","):
        try:
            sizes = {len(next(csv.reader([line.rstrip("\r")], delimiter=col_sep, strict=True), [])) for line in lines}
        except csv.Error:
            sizes = set()
        counts[col_sep] = sizes.pop() if len(sizes) == 1 else 0
    return counts[";"] > counts[","]


def _convert(cell: str) -> str | None:
    """The :nil and :decimal_comma_to_period converters #csv_stream gives CSV.foreach, on every field: a pure
    number's last , or . becomes the decimal point and the others go ("1,234.5" -> "1234.5", "8,50" -> "8.50")."""
    if cell == "":
        return None
    if _DECIMAL_COMMA.match(cell):
        *parts, last = re.split(r"[,.]", cell)
        return last if not parts else "".join(parts) + "." + last
    return cell


def _student_columns(header: list[str | None]) -> tuple[int, int | None, int | None]:
    """#header? and #update_column_count: how many columns say who the student is, and where the SIS ids are."""
    cells = [cell or "" for cell in header]
    if not (len(cells) > 3 and "Student" in cells[0] and "ID" in cells[1]):  # #row_has_student_headers?
        raise InvalidHeaderRow(cells[:3])
    count, sis_user_id, sis_login_id = 3, None, None
    if re.search(r"SIS\s+Login\s+ID", cells[2]):
        sis_login_id, count = 2, count + 1
    elif re.search(r"SIS\s+User\s+ID", cells[2]) and re.search(r"SIS\s+Login\s+ID", cells[3]):
        integration = 1 if re.search(r"Integration\s+ID", cells[4]) else 0
        sis_user_id, sis_login_id, count = 2, 3, count + 2 + integration
        if re.search(r"Root\s+Account", cells[4 + integration]):
            count += 1
    if "Section" not in cells[count - 1]:  # last_student_info_column (no custom columns in these courses)
        raise InvalidHeaderRow(cells[:count])
    return count, sis_user_id, sis_login_id


def _student(course: Course, row: list[str | None], sis_user_id: int | None,
             sis_login_id: int | None) -> Student | None:
    """#process_student: by ID, else SIS User ID, else SIS Login ID (active pseudonyms), else the name exactly as
    `name` or `sortable_name`; None for the placeholder User.new Canvas makes of a row it cannot match."""
    by_id = {student.id: student for student in course.students}
    if row[1] is not None and (found := by_id.get(_ruby_to_i(row[1]))):
        return found
    for column, of in ((sis_user_id, lambda s: s.sis_user_id), (sis_login_id, lambda s: s.login)):
        if column is not None and row[column] is not None:
            found = next((s for s in course.students if of(s) == row[column]), None)
            if found:
                return found
    return next((s for s in course.students if row[0] in (s.name, s.sortable_name)), None)


def _ruby_to_i(text: str) -> int:
    """String#to_i: the leading integer, 0 when there is none."""
    match = re.match(r"\s*[-+]?\d+", text)
    return int(match[0]) if match else 0


def _stored(score: float | str | None) -> str:
    """The importer's current value: `submission.excused? ? "EX" : submission.score.to_s` (nil.to_s is "")."""
    if score is None:
        return ""
    return score if score == "EX" else repr(float(score))  # Float#to_s: 78.5 -> "78.5", 100.0 -> "100.0"


def _no_change_to_value(new: str | None, current: str) -> bool:
    """#no_change_to_value?(consider_excused: true)."""
    if new == current:
        return True
    if _no_score(current) and _no_score(new):
        return True
    if not (_present(current) and _present(new)):
        return False  # blank against a stored grade (or the other way): a change
    if new.upper() == "EX" or current.upper() == "EX":
        return False
    return _i18n_n(current) == _i18n_n(new)  # "compare … at that same level of precision": two decimals


def _no_score(value: str | None) -> bool:
    return not _present(value) or value == "-"


def _present(value: str | None) -> bool:
    return value is not None and value.strip() != ""


def _i18n_n(value: str) -> str:
    """I18n.n(value, precision: 2): a number rounded half up to two decimals; anything else as it is."""
    if not _NUMBER.fullmatch(value.strip()):
        return value
    try:
        return str(Decimal(value.strip()).quantize(Decimal("0.01"), ROUND_HALF_UP))
    except InvalidOperation:
        return value


def with_scores(course: Course, scores: dict[tuple[int, int], float | str]) -> Course:
    return replace(course, scores={**course.scores, **scores})
