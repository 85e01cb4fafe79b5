"""Read a course roster and tell which submission is whose.

Four formats, told apart by the header row: Canvas's gradebook export, Moodle's participants export, Moodle's
offline grading worksheet, and a plain `id,name[,email,section]` file, separated by `,` or `;`. A Canvas export and
a Moodle worksheet are also kept as read, each cell's raw text and each line ending with them: both LMSs import
grades from their own file, so grader/lms/export.py writes that file back with the exam's cells filled and every
other byte as it was.

Matching never guesses: a submission is matched by an identifier, or by a name that only one student on the roster
has; anything else is left for a person, with the reason.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.lms.csvtext import CsvError, Record, parse, sniff_delimiter

RosterFormat = Literal["canvas", "moodle", "moodle-worksheet", "plain"]
# Rows of a Canvas export: "points possible" and "read only" are Canvas's own notes, not students.
RowKind = Literal["student", "test student", "points possible", "read only", "blank"]

# Canvas's test student (Student View): its sortable name, and its display name when names are shown first-last.
_CANVAS_TEST_STUDENTS = frozenset({"Student, Test", "Test Student"})
# What Canvas writes in its note rows (first cell empty): "(read only)" under computed columns, "Manual Posting"
# under assignments whose grades are posted by hand, "Muted" in older exports (instructure/canvas-lms
# lib/gradebook_importer.rb, GradebookImporter#check_for_non_student_row: `/^\s*(Muted|Manual Posting.*)?\s*$/i`).
_CANVAS_NOTE = re.compile(r"\(?read only\)?|manual posting.*|muted", re.IGNORECASE)
# The three columns Moodle's "Upload grading worksheet" requires, in English: mod/assign/feedback/offline/
# importgradeslib.php, assignfeedback_offline_grade_importer::init (get_string('recordid', 'assign'),
# get_string('gradenoun'), get_string('lastmodifiedgrade', 'assign')). It matches them exactly, in the language of
# the one uploading, so they are matched exactly here too.
MOODLE_WORKSHEET_COLUMNS = ("Identifier", "Grade", "Last modified (grade)")
# A worksheet's Identifier: get_string('hiddenuser', 'assign') and the participant id (assign_user_mapping's id),
# assign::get_uniqueid_for_user, the same id as in the names of the "Download all submissions" zip.
_PARTICIPANT = re.compile(r"Participant (?P<id>[0-9]+)")
_MOODLE_COLUMNS = ("first name", "last name", "id number", "email address")
_PLAIN_COLUMNS = ("id", "name")
_HOW = ("LMS id", "student id", "name")  # the matching rules, strongest first
LMS_ID_NAMES = {"canvas": "Canvas ID", "moodle": "participant id"}  # what each LMS calls its id of a student
# What a rule of `_HOW` compares: `lms_id`'s (LMS, id) pair, a student id, a comparable name.
_Identifier = tuple[str, str] | str


class RosterError(Exception):
    """A roster that cannot be used; the message names the file, the line and what was expected."""


@dataclass(frozen=True)
class RosterEntry:
    name: str
    student_id: str | None  # Canvas "SIS User ID", Moodle "ID number", plain "id" (e.g. 2022001)
    # Canvas "ID" (Canvas's numeric user id); a Moodle worksheet's participant id ("Participant 1234567"), as
    # Moodle's download names carry it; None for Moodle participants and plain rosters
    lms_user_id: str | None
    login: str | None  # Canvas "SIS Login ID"
    email: str | None
    section: str | None
    row: int  # 1-based line number in the CSV, for messages
    lms: str | None = None  # whose id lms_user_id is: "canvas" or "moodle"


@dataclass(frozen=True)
class SheetRow:
    record: Record  # as read: values, raw text, line ending
    kind: RowKind

    @property
    def line(self) -> int:
        """1-based line number where the row starts."""
        return self.record.line

    @property
    def cells(self) -> tuple[str, ...]:
        return self.record.cells


@dataclass(frozen=True)
class Sheet:
    """An LMS's own file as read (a Canvas gradebook export, a Moodle grading worksheet), for writing it back with
    the exam's cells filled and every other byte as it was."""

    header_record: Record
    rows: tuple[SheetRow, ...]  # every row after the header, in file order, students or not
    delimiter: str  # "," or ";"
    bom: bool  # the file started with a UTF-8 byte-order mark

    @property
    def header(self) -> tuple[str, ...]:
        return self.header_record.cells


@dataclass(frozen=True)
class Roster:
    path: Path
    format: RosterFormat
    entries: tuple[RosterEntry, ...]
    sheet: Sheet | None = None  # Canvas exports and Moodle worksheets


@dataclass(frozen=True)
class SubmitterKeys:
    """What is known of one submission's author."""

    key: str  # the submission's key in the gradebook
    name: str | None
    student_id: str | None
    lms_user_id: str | None  # the LMS's own id from a download's names: Canvas's user id, Moodle's participant id
    lms: str | None = None  # whose id lms_user_id is: "canvas" or "moodle"

    @classmethod
    def of(cls, key: str, name: str | None, student_id: str | None, lms: str | None,
           lms_user_id: str | None) -> SubmitterKeys:
        """What a submission is matched by: its name, its student id and the id its LMS's download names carry.
        Never the name part of Canvas's file names: Canvas makes it from the student's name, not the SIS login,
        and two students can share it."""
        return cls(key=key, name=name, student_id=student_id, lms_user_id=lms_user_id, lms=lms)


def lms_id(lms: str | None, lms_user_id: str | None) -> tuple[str, str] | None:
    """An LMS's own id of a student, with the LMS (`("canvas", "10101")`, `("moodle", "1234567")`): a Canvas
    export's ID column holds Canvas's, a Moodle worksheet's Identifier Moodle's, and neither is the other's. None
    for Canvas's anonymous ids (`anon_…`), which no roster has: matching those would be a guess."""
    if lms is None or lms_user_id is None or not (lms_user_id.isascii() and lms_user_id.isdigit()):
        return None
    return lms, lms_user_id


def canvas_user_id(lms: str | None, lms_user_id: str | None) -> str | None:
    """The user id of a Canvas download's names, which a Canvas export's ID column holds; None for Moodle's
    participant ids and Canvas's anonymous ids (`anon_…`), which no roster has: matching those would be a guess."""
    return lms_user_id if lms == "canvas" and lms_user_id is not None and lms_user_id.isascii() \
        and lms_user_id.isdigit() else None


@dataclass(frozen=True)
class RosterMatch:
    matched: dict[str, RosterEntry]  # submission key -> entry
    how: dict[str, str]  # submission key -> "Canvas ID" | "participant id" | "student id" | "name"
    missing: tuple[RosterEntry, ...]  # on the roster, and no submission matches or claims them
    unmatched: dict[str, str]  # submission key -> why it matched no one (for the TA)


def read_roster(path: Path) -> Roster:
    """The roster in `path`, its format told by the header row."""
    text, bom = _read_text(path)
    if not text.strip():
        raise RosterError(f"{path}: the file is empty (expected a header row, then one row per student)")
    delimiter = sniff_delimiter(text)
    try:
        header_record, *records = parse(text, delimiter)
    except CsvError as err:
        raise RosterError(f"{path}: line {err.line}: not valid CSV ({err.why})") from None
    header = list(header_record.cells)
    for record in records:
        if not _blank(record.cells) and len(record.cells) != len(header):
            raise RosterError(f"{path}: line {record.line}: {len(record.cells)} cells, expected {len(header)} "
                              "(one per header column)")
    columns = _columns(header)
    students = [(record.line, record.cells) for record in records if not _blank(record.cells)]
    if (identity := _canvas_identity(header)) is not None:
        roster = _canvas(path, Sheet(header_record, tuple(SheetRow(record, _canvas_kind(record.cells))
                                                          for record in records), delimiter, bom), identity)
    elif all(name in header for name in MOODLE_WORKSHEET_COLUMNS):
        roster = _moodle_worksheet(path, Sheet(header_record, tuple(
            SheetRow(record, "blank" if _blank(record.cells) else "student") for record in records), delimiter, bom))
    elif all(name in columns for name in _MOODLE_COLUMNS):
        roster = Roster(path, "moodle", tuple(_moodle_entry(path, line, cells, columns) for line, cells in students))
    elif all(name in columns for name in _PLAIN_COLUMNS):
        roster = Roster(path, "plain", tuple(_plain_entry(path, line, cells, columns) for line, cells in students))
    else:
        raise RosterError(
            f"{path}: line 1: the header row matches no roster format: expected a Canvas gradebook export "
            "(Student, ID, [SIS User ID,] SIS Login ID, Section, …), a Moodle participants export "
            "(First name, Last name, ID number, Email address), a Moodle grading worksheet downloaded with Moodle "
            "in English (Identifier, Full name, …, Grade, …, Last modified (grade); in another language, switch "
            "Moodle to English, download the worksheet again, and upload it in English too) or columns "
            f"id,name[,email,section]; got: {', '.join(header)}")
    _check_unique(roster)
    return roster


def match_roster(roster: Roster, submitters: list[SubmitterKeys]) -> RosterMatch:
    """Who wrote each submission: by the LMS's id (a Canvas ID, a Moodle participant id), else student id, else a
    name only one student has (never a Canvas SIS login: a download's names carry none).

    The first rule whose value is on the roster decides: one entry matches, several leave the submission unmatched.
    An entry that two submissions match is given to neither: each reason names the other.
    """
    found = dict(zip((submitter.key for submitter in submitters), find_each(roster, submitters)))
    claimants: dict[RosterEntry, list[str]] = defaultdict(list)
    for key, (entry, _) in found.items():
        if entry is not None:
            claimants[entry].append(key)

    matched: dict[str, RosterEntry] = {}
    how: dict[str, str] = {}
    unmatched: dict[str, str] = {}
    for key, (entry, said) in found.items():
        if entry is None:
            unmatched[key] = said
        elif len(claimants[entry]) > 1:
            rivals = _join([f"{other} (by {found[other][1]})" for other in claimants[entry] if other != key])
            unmatched[key] = f"matches {entry.name} (line {entry.row}) by {said}, as does {rivals}"
        else:
            matched[key], how[key] = entry, said
    missing = tuple(entry for entry in roster.entries if entry not in claimants)
    return RosterMatch(matched=matched, how=how, missing=missing, unmatched=unmatched)


def find_each(roster: Roster, submitters: Sequence[SubmitterKeys]) -> list[tuple[RosterEntry | None, str]]:
    """Each submitter's own match, in order, by the rules of `match_roster`: (the entry, how it matched), or (None,
    why it matched no one). Each is matched alone: two submitters may match one entry."""
    indexes: list[dict[_Identifier, list[RosterEntry]]] = [defaultdict(list) for _ in _HOW]
    for entry in roster.entries:
        for index, value in zip(indexes, _identifiers(entry)):
            if value is not None:
                index[value].append(entry)
    return [_find(submitter, indexes) for submitter in submitters]


def _read_text(path: Path) -> tuple[str, bool]:
    """The file as UTF-8, line endings untranslated, and whether it started with a BOM (both are written back)."""
    # Excel's "CSV UTF-8" and Moodle's worksheet start with a BOM, which must not become part of the first header cell.
    data = path.read_bytes()
    bom = data.startswith(codecs.BOM_UTF8)
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8"), bom
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise RosterError(f"{path}: line {line}: not UTF-8 text (expected the roster saved as CSV UTF-8)") from None


def _blank(cells: Sequence[str]) -> bool:
    """An empty line, or a row of empty cells as spreadsheets leave below the data: no one."""
    return not any(cell.strip() for cell in cells)


def _canvas_identity(header: list[str]) -> dict[str, int] | None:
    """Where a Canvas export's columns that say who a student is are, or None when `header` is no Canvas export.

    The layouts Canvas writes and reads back (instructure/canvas-lms lib/gradebook_exporter.rb,
    GradebookExporter#csv_data; lib/gradebook_importer.rb, GradebookImporter#update_column_count and #header?):
    Student, ID, then SIS Login ID, or SIS User ID, SIS Login ID[, Integration ID][, Root Account], then Section.
    """
    names = [name.strip() for name in header]
    if names[:2] != ["Student", "ID"]:
        return None
    layout = ["Student", "ID"]
    if names[2:3] == ["SIS User ID"]:
        layout += ["SIS User ID", "SIS Login ID"]
        layout += [name for name in ("Integration ID", "Root Account") if name in names[4:6]]
    elif names[2:3] == ["SIS Login ID"]:
        layout.append("SIS Login ID")
    layout.append("Section")
    if names[:len(layout)] != layout:
        return None
    return {name: index for index, name in enumerate(layout)}


def _columns(header: list[str]) -> dict[str, int]:
    """Header name (trimmed, case-folded) -> its first column."""
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        columns.setdefault(name.strip().casefold(), index)
    return columns


def _value(cells: Sequence[str], index: int | None) -> str | None:
    """A cell trimmed; empty, or a column the file does not have, is None."""
    return None if index is None else cells[index].strip() or None


def _named(path: Path, line: int, name: str | None, where: str) -> str:
    if name is None:
        raise RosterError(f"{path}: line {line}: a student row with no name (expected it in {where})")
    return name


def _canvas(path: Path, sheet: Sheet, columns: dict[str, int]) -> Roster:
    entries = tuple(
        RosterEntry(
            name=_named(path, row.line, _value(row.cells, columns["Student"]), "the Student column"),
            student_id=_value(row.cells, columns.get("SIS User ID")),
            lms_user_id=_value(row.cells, columns["ID"]),
            login=_value(row.cells, columns.get("SIS Login ID")),
            email=None,
            section=_value(row.cells, columns["Section"]),
            row=row.line, lms="canvas")
        for row in sheet.rows if row.kind == "student")
    return Roster(path, "canvas", entries, sheet)


def _moodle_worksheet(path: Path, sheet: Sheet) -> Roster:
    """Moodle's offline grading worksheet: a student per row, found by the participant id in Identifier. The name is
    Full name as the worksheet has it (Moodle writes fullname(): "First Last", `민준 김` or `김 민준` as the names were
    entered); without it (blind marking) the Identifier."""
    header = list(sheet.header)
    columns = {name: header.index(name) for name in header}
    entries = []
    for row in sheet.rows:
        if row.kind == "blank":
            continue
        identifier = row.cells[columns["Identifier"]]
        participant = _PARTICIPANT.fullmatch(identifier.strip())
        if participant is None:
            raise RosterError(f"{path}: line {row.line}: Identifier {identifier!r} is not Moodle's "
                              "'Participant <number>' (expected the worksheet as Moodle wrote it, in English)")
        entries.append(RosterEntry(
            name=_value(row.cells, columns.get("Full name")) or identifier.strip(),
            student_id=_value(row.cells, columns.get("ID number")),
            lms_user_id=participant["id"],
            login=None,
            email=_value(row.cells, columns.get("Email address")),
            section=_value(row.cells, columns.get("Group")),
            row=row.line, lms="moodle"))
    return Roster(path, "moodle-worksheet", tuple(entries), sheet)


def _canvas_kind(cells: Sequence[str]) -> RowKind:
    if _blank(cells):
        return "blank"
    first = cells[0].strip()
    if first == "Points Possible":
        return "points possible"
    if not first and any(_CANVAS_NOTE.fullmatch(cell.strip()) for cell in cells[1:]):
        return "read only"
    return "test student" if first in _CANVAS_TEST_STUDENTS else "student"


def _moodle_entry(path: Path, line: int, cells: Sequence[str], columns: dict[str, int]) -> RosterEntry:
    # Korean Moodle sites may put the whole name in one of the two fields and leave the other empty.
    parts = (_value(cells, columns["first name"]), _value(cells, columns["last name"]))
    return RosterEntry(
        name=_named(path, line, " ".join(part for part in parts if part) or None, "First name or Last name"),
        student_id=_value(cells, columns["id number"]),
        lms_user_id=None,
        login=None,
        email=_value(cells, columns["email address"]),
        section=_value(cells, columns.get("groups")),
        row=line)


def _plain_entry(path: Path, line: int, cells: Sequence[str], columns: dict[str, int]) -> RosterEntry:
    return RosterEntry(
        name=_named(path, line, _value(cells, columns["name"]), "the name column"),
        student_id=_value(cells, columns["id"]),
        lms_user_id=None,
        login=None,
        email=_value(cells, columns.get("email")),
        section=_value(cells, columns.get("section")),
        row=line)


def _check_unique(roster: Roster) -> None:
    """A student twice on the roster would make matching by that id ambiguous: refuse the file instead."""
    lms_id = "participant id" if roster.format == "moodle-worksheet" else "Canvas ID"
    for label, of in ((lms_id, lambda e: e.lms_user_id), ("student id", lambda e: e.student_id)):
        seen: dict[str, int] = {}
        for entry in roster.entries:
            value = of(entry)
            if value is None:
                continue
            if value in seen:
                raise RosterError(f"{roster.path}: lines {seen[value]} and {entry.row} both have {label} {value} "
                                  "(expected each student once)")
            seen[value] = entry.row


def _identifiers(who: RosterEntry | SubmitterKeys) -> tuple[_Identifier | None, ...]:
    """What each rule of `_HOW` compares, in its order."""
    return lms_id(who.lms, who.lms_user_id), who.student_id, _comparable_name(who.name)


def _comparable_name(name: str | None) -> str | None:
    """NFC (macOS writes Korean decomposed), case-folded, whitespace collapsed; nothing fuzzier."""
    if name is None:
        return None
    return " ".join(unicodedata.normalize("NFC", name).casefold().split()) or None


def _find(submitter: SubmitterKeys, indexes: list[dict[_Identifier, list[RosterEntry]]]) -> tuple[RosterEntry | None, str]:
    """(the entry, how it matched), or (None, why it matched no one)."""
    identifiers = _identifiers(submitter)
    shown = (submitter.lms_user_id if identifiers[0] else None, submitter.student_id, submitter.name)
    rules = (LMS_ID_NAMES.get(submitter.lms or "", _HOW[0]), *_HOW[1:])
    for how, index, value, given in zip(rules, indexes, identifiers, shown):
        entries = index.get(value, []) if value is not None else []
        if len(entries) == 1:
            return entries[0], how
        if entries:
            lines = _join([str(entry.row) for entry in entries])
            has = "are named" if how == "name" else f"have {how}"
            return None, f"{len(entries)} students on the roster {has} {given} (lines {lines})"
    known = [f"{'the name' if how == 'name' else how} {given}" for how, given in zip(rules, shown) if given]
    if not known:
        return None, "nothing says whose it is (no LMS id, student id or name)"
    return None, f"no one on the roster has {' or '.join(known)}"


def _join(words: list[str]) -> str:
    """"4", "4 and 9", "4, 9 and 12"."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
